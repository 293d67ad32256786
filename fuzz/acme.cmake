# libFuzzer target of the ACME server (src/acme): JWS parsing, JWK keys and signature checks.
custos_fuzzer(acme_jws_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/acme_jws_fuzzer.cc DEPS custos_acme_jws)
