# libFuzzer targets of the attestation library (src/attest): DER chains with property
# extraction and verification, and CBOR attestation objects / device-attest-01 payloads.
custos_fuzzer(attest_chain_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/attest_chain_fuzzer.cc DEPS custos_attest)
custos_fuzzer(attest_cbor_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/attest_cbor_fuzzer.cc DEPS custos_attest)
