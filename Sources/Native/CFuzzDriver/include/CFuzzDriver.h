#ifndef MNEMO_CFUZZDRIVER_H
#define MNEMO_CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// One fuzz input: libFuzzer's LLVMFuzzerTestOneInput signature.
typedef int (*mnemo_fuzz_callback)(const uint8_t *data, size_t size);

/// True when libFuzzer is linked in (the build of Tests/Scripts/fuzz.sh); false in a plain build.
int mnemo_fuzz_has_libfuzzer(void);

/// Runs libFuzzer's driver with `argv` (its flags and corpus directories) over `callback`; -1 without libFuzzer.
int mnemo_fuzz_run_driver(int *argc, char ***argv, mnemo_fuzz_callback callback);

#endif
