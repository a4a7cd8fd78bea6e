// OpenBLAS's CBLAS interface plus its thread and core controls.
#include <cblas.h>
