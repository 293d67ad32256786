# SCEP PKIOperation decoding (issue 3). Seeds: see the comment in scep_pkioperation_fuzzer.cc.
custos_fuzzer(scep_pkioperation_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/scep_pkioperation_fuzzer.cc
  DEPS custos_scep custos_pki custos_base)
