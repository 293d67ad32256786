# libFuzzer target for OTA enrollment (src/mdm/ota*, issue 7): the phase-2/3 request body. Seeds
# in corpus/ota_request_fuzzer/ (made by fuzz/make_ota_request_corpus.sh).
custos_fuzzer(ota_request_fuzzer SRCS ${CMAKE_CURRENT_LIST_DIR}/ota_request_fuzzer.cc
  DEPS custos_dep custos_mdm_ota_codec)
