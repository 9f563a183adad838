/* SPDX-License-Identifier: MIT */
/*
 * socktype.c — names and SOCK_* values of the three AF_UNIX socket types. Pure.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static const struct {
    enum uds_socket_type type;
    int sock;
    const char *name;
} types[] = {
    { UDS_STREAM, SOCK_STREAM, "stream" },
    { UDS_SEQPACKET, SOCK_SEQPACKET, "seqpacket" },
    { UDS_DGRAM, SOCK_DGRAM, "dgram" },
};

UDS_API int uds_socket_type_to_sock(enum uds_socket_type type) {
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == type)
            return types[i].sock;
    return uds__fail(EINVAL);
}

UDS_API const char *uds_socket_type_name(enum uds_socket_type type) {
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].type == type)
            return types[i].name;
    return "unknown";
}

UDS_API int uds_socket_type_parse(const char *name, enum uds_socket_type *ret_type) {
    if (!name || !ret_type)
        return uds__fail(EINVAL);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i].name, name) == 0) {
            *ret_type = types[i].type;
            return 0;
        }
    }
    return uds__fail(EINVAL);
}
