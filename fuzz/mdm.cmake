# libFuzzer targets for the MDM wire layer (src/mdm): check-in and command-result decoding.
# Seed corpora: the captures under ../shared/vectors/ (see src/mdm/vectors_test.cc).
custos_fuzzer(mdm_checkin_fuzzer SRCS ${CMAKE_CURRENT_LIST_DIR}/mdm_checkin_fuzzer.cc
  DEPS custos_mdm_codec)
custos_fuzzer(mdm_command_result_fuzzer SRCS ${CMAKE_CURRENT_LIST_DIR}/mdm_command_result_fuzzer.cc
  DEPS custos_mdm_codec)
