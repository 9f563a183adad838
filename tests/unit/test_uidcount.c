/* SPDX-License-Identifier: MIT */
/* test_uidcount.c — the per-uid counter: the limit, release, uids kept apart, growth and
 * shrinking, and a long random run of takes and releases checked against a plain array. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "udskit.h"

static int counter_setup(void **state) {
    *state = uds_uid_counter_new();
    return *state ? 0 : -1;
}

static int counter_teardown(void **state) {
    uds_uid_counter_free(*state);
    return 0;
}

static void uidcount_take_counts_up_to_max_then_says_no(void **state) {
    struct uds_uid_counter *c = *state;

    for (int i = 0; i < 3; i++)
        assert_int_equal(uds_uid_counter_take(c, 1000, 3), 1);
    assert_int_equal(uds_uid_counter_get(c, 1000), 3);
    assert_int_equal(uds_uid_counter_take(c, 1000, 3), 0);
    assert_int_equal(uds_uid_counter_get(c, 1000), 3);
    /* A lower max than held is "at the limit" too. */
    assert_int_equal(uds_uid_counter_take(c, 1000, 2), 0);
    assert_int_equal(uds_uid_counter_take(c, 1000, 4), 1);
}

static void uidcount_max_zero_takes_nothing(void **state) {
    struct uds_uid_counter *c = *state;

    assert_int_equal(uds_uid_counter_take(c, 7, 0), 0);
    assert_int_equal(uds_uid_counter_get(c, 7), 0);
    assert_int_equal(uds_uid_counter_uids(c), 0);
}

static void uidcount_release_makes_room_and_forgets_at_zero(void **state) {
    struct uds_uid_counter *c = *state;

    assert_int_equal(uds_uid_counter_take(c, 65534, 2), 1);
    assert_int_equal(uds_uid_counter_take(c, 65534, 2), 1);
    assert_int_equal(uds_uid_counter_take(c, 65534, 2), 0);
    assert_int_equal(uds_uid_counter_release(c, 65534), 0);
    assert_int_equal(uds_uid_counter_get(c, 65534), 1);
    assert_int_equal(uds_uid_counter_take(c, 65534, 2), 1);
    assert_int_equal(uds_uid_counter_release(c, 65534), 0);
    assert_int_equal(uds_uid_counter_release(c, 65534), 0);
    assert_int_equal(uds_uid_counter_get(c, 65534), 0);
    assert_int_equal(uds_uid_counter_uids(c), 0);
}

static void uidcount_release_without_take_is_enoent(void **state) {
    struct uds_uid_counter *c = *state;

    errno = 0;
    assert_int_equal(uds_uid_counter_release(c, 42), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(uds_uid_counter_take(c, 42, 1), 1);
    assert_int_equal(uds_uid_counter_release(c, 42), 0);
    errno = 0;
    assert_int_equal(uds_uid_counter_release(c, 42), -1);
    assert_int_equal(errno, ENOENT);
}

static void uidcount_uids_are_counted_apart_root_and_minus_one_included(void **state) {
    struct uds_uid_counter *c = *state;

    assert_int_equal(uds_uid_counter_take(c, 0, 1), 1);
    assert_int_equal(uds_uid_counter_take(c, (uid_t) -1, 1), 1);
    assert_int_equal(uds_uid_counter_take(c, 1, 1), 1);
    assert_int_equal(uds_uid_counter_take(c, 0, 1), 0);
    assert_int_equal(uds_uid_counter_take(c, (uid_t) -1, 1), 0);
    assert_int_equal(uds_uid_counter_uids(c), 3);
    assert_int_equal(uds_uid_counter_release(c, 0), 0);
    assert_int_equal(uds_uid_counter_get(c, 0), 0);
    assert_int_equal(uds_uid_counter_get(c, (uid_t) -1), 1);
    assert_int_equal(uds_uid_counter_get(c, 1), 1);
}

static void uidcount_many_uids_grow_and_shrink_the_table(void **state) {
    struct uds_uid_counter *c = *state;
    const uid_t n = 20000;

    /* Every uid twice, in two passes, so lookups run across grown tables. */
    for (int pass = 0; pass < 2; pass++)
        for (uid_t u = 0; u < n; u++)
            assert_int_equal(uds_uid_counter_take(c, u * 4096u, 2), 1);
    assert_int_equal(uds_uid_counter_uids(c), n);
    for (uid_t u = 0; u < n; u++)
        assert_int_equal(uds_uid_counter_get(c, u * 4096u), 2);
    for (uid_t u = 0; u < n; u++) {
        assert_int_equal(uds_uid_counter_release(c, u * 4096u), 0);
        assert_int_equal(uds_uid_counter_release(c, u * 4096u), 0);
        /* Entries after the one removed are still found while the table shrinks. */
        if (u + 1 < n)
            assert_int_equal(uds_uid_counter_get(c, (u + 1) * 4096u), 2);
    }
    assert_int_equal(uds_uid_counter_uids(c), 0);
    /* Usable again after shrinking to nothing. */
    assert_int_equal(uds_uid_counter_take(c, 5, 1), 1);
}

/* xorshift32: the same sequence on every run. */
static uint32_t next_random(uint32_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void uidcount_random_takes_and_releases_match_a_plain_array(void **state) {
    struct uds_uid_counter *c = *state;
    enum { UIDS = 300, MAX = 4 };
    size_t want[UIDS] = { 0 };
    uint32_t x = 2463534242u;

    /* Few uids, many collisions on small tables, removals from the middle of probe runs. */
    for (int step = 0; step < 200000; step++) {
        uint32_t r = next_random(&x);
        size_t i = r % UIDS;
        uid_t uid = (uid_t) (i * 7919u);
        if ((r >> 16) % 2 == 0) {
            int took = uds_uid_counter_take(c, uid, MAX);
            assert_int_equal(took, want[i] < MAX ? 1 : 0);
            want[i] += (size_t) took;
        } else if (want[i] > 0) {
            assert_int_equal(uds_uid_counter_release(c, uid), 0);
            want[i]--;
        } else {
            assert_int_equal(uds_uid_counter_release(c, uid), -1);
        }
        if (step % 997 == 0) {
            size_t held = 0;
            for (size_t k = 0; k < UIDS; k++) {
                assert_int_equal(uds_uid_counter_get(c, (uid_t) (k * 7919u)), want[k]);
                held += want[k] > 0;
            }
            assert_int_equal(uds_uid_counter_uids(c), held);
        }
    }
}

static void uidcount_null_counter_is_einval_or_empty(void **state) {
    (void) state;
    errno = 0;
    assert_int_equal(uds_uid_counter_take(NULL, 1, 1), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(uds_uid_counter_release(NULL, 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_uid_counter_get(NULL, 1), 0);
    assert_int_equal(uds_uid_counter_uids(NULL), 0);
    uds_uid_counter_free(NULL);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, counter_setup, counter_teardown)
    const struct CMUnitTest tests[] = {
        T(uidcount_take_counts_up_to_max_then_says_no),
        T(uidcount_max_zero_takes_nothing),
        T(uidcount_release_makes_room_and_forgets_at_zero),
        T(uidcount_release_without_take_is_enoent),
        T(uidcount_uids_are_counted_apart_root_and_minus_one_included),
        T(uidcount_many_uids_grow_and_shrink_the_table),
        T(uidcount_random_takes_and_releases_match_a_plain_array),
        cmocka_unit_test(uidcount_null_counter_is_einval_or_empty),
    };
#undef T
    alarm(60);
    return cmocka_run_group_tests_name("uidcount", tests, NULL, NULL);
}
