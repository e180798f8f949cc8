# Fails if a copy of the kernels (lib/kernels/kernels.cpp compiled for one instruction set)
# defines a symbol that the linker could merge with another copy's: the (mangled) name of every
# global or weak symbol must mention that copy's namespace (eot::kernels::LEVEL) or its renamed
# Eigen (eot_eigen_LEVEL), which makes it unique to the copy.
# Usage: cmake -DNM=nm -DLEVEL=avx2 -DOBJECTS=a.o;b.o -P odr_check.cmake
foreach(object IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} --defined-only ${object} OUTPUT_VARIABLE symbols
                  RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "${NM} failed on ${object}")
  endif()
  string(REPLACE "\n" ";" lines "${symbols}")
  set(count 0)
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "^[0-9a-f]* [A-Zu] (.*)$")
      continue()  # local symbols (lower-case types) cannot clash
    endif()
    set(name "${CMAKE_MATCH_1}")
    math(EXPR count "${count} + 1")
    # DW.ref.__gxx_personality_v0 (and the C one, which clang's ThreadSanitizer build emits) is
    # the compiler's pointer to the exception personality routine: the same in every object.
    if(NOT name MATCHES "eot_eigen_${LEVEL}|7kernels[0-9]+${LEVEL}" AND
       NOT name MATCHES "^DW\\.ref\\.__g(cc|xx)_personality_v0$")
      message(FATAL_ERROR "${object}: '${name}' is not unique to the ${LEVEL} kernels")
    endif()
  endforeach()
  if(count EQUAL 0)
    message(FATAL_ERROR "${object}: no global symbol found; is ${NM} working?")
  endif()
  message(STATUS "${object}: ${count} global symbols, all unique to the ${LEVEL} kernels")
endforeach()
