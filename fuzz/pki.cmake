# libFuzzer target of the PKCS#10 parser (src/pki/csr.h): the CSR inside every SCEP PKCSReq and
# every ACME finalize, as DER or PEM.
custos_fuzzer(csr_fuzzer SRCS ${CMAKE_CURRENT_LIST_DIR}/csr_fuzzer.cc DEPS custos_pki)
