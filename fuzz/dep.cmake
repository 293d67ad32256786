# libFuzzer targets for Apple Business Manager / DEP (src/dep, issue 6): the token file ABM hands
# out and the signed MachineInfo devices post. Seed corpora in corpus/dep_*_fuzzer/.
custos_fuzzer(dep_token_file_fuzzer SRCS ${CMAKE_CURRENT_LIST_DIR}/dep_token_file_fuzzer.cc
  DEPS custos_dep)
custos_fuzzer(dep_machine_info_fuzzer SRCS ${CMAKE_CURRENT_LIST_DIR}/dep_machine_info_fuzzer.cc
  DEPS custos_dep)
