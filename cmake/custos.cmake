# Helpers shared by every component's CMakeLists.txt.
include(GoogleTest)

# custos_library(NAME SRCS a.cc b.cc DEPS x y)
function(custos_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# custos_test(NAME SRCS a_test.cc DEPS x y [LABELS l]): a GoogleTest binary registered with
# CTest, one CTest test per test case. Every test sees the environment variable CUSTOS_SOURCE_DIR;
# the macro CUSTOS_DEFAULT_BINARY names the `custos` binary (for integration tests).
function(custos_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_definitions(${name} PRIVATE CUSTOS_DEFAULT_BINARY="${CMAKE_BINARY_DIR}/custos")
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${labels}" ENVIRONMENT "CUSTOS_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    DISCOVERY_TIMEOUT 30)
endfunction()

# custos_fuzzer(NAME SRCS f.cc DEPS x y): a libFuzzer target, only with -DCUSTOS_FUZZ=ON.
function(custos_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  if(CUSTOS_FUZZ)
    add_executable(${name} ${ARG_SRCS})
    target_link_libraries(${name} PRIVATE ${ARG_DEPS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()
