#include "CFuzzDriver.h"

// Weak: a plain build links without libFuzzer and the symbol stays null. The fuzz build links
// libclang_rt.fuzzer_no_main with --undefined=LLVMFuzzerRunDriver, which pulls the driver in.
__attribute__((weak)) int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t));

int mnemo_fuzz_has_libfuzzer(void) { return LLVMFuzzerRunDriver != 0; }

int mnemo_fuzz_run_driver(int *argc, char ***argv, mnemo_fuzz_callback callback) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
