# libFuzzer target of the posture service (src/posture): DeviceInformation reports with
# DevicePropertiesAttestation chains, parsed and judged.
custos_fuzzer(posture_report_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/posture_report_fuzzer.cc DEPS custos_posture)
