/* SPDX-License-Identifier: MIT */
/* version.c — the version of the library that is actually linked. */
#include "internal.h"

UDS_API const char *uds_version(void) {
    return UDS_VERSION_STRING;
}
