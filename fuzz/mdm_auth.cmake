# Device authentication headers (issue 4, src/mdm/device_auth.h): Mdm-Signature and proxy
# client-certificate headers. Seeds: fuzz/corpus/mdm_auth_header_fuzzer/.
custos_fuzzer(mdm_auth_header_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/mdm_auth_header_fuzzer.cc
  DEPS custos_mdm_auth custos_base)
