/* SPDX-License-Identifier: MIT */
/*
 * test_timer.c — unit tests of struct uds_timer (timer.c) on a real loop: armed until it
 * fires or is cancelled and not after, a re-arm replaces, a callback arms its own timer
 * again, cancelling a spent timer touches no other, and bad arguments.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "udskit.h"

struct ctx {
    struct uds_loop *loop;
    struct uds_timer timer, other;
    int fired, other_fired;
    int again;          /* times on_fire_again arms its timer once more */
    bool armed_inside;  /* uds_timer_armed() as seen from inside the callback */
};

static int setup(void **state) {
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->loop = uds_loop_new();
    assert_non_null(c->loop);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    struct ctx *c = *state;

    uds_timer_cancel(&c->timer);
    uds_timer_cancel(&c->other);
    uds_loop_free(c->loop);
    free(c);
    return 0;
}

/* Run the loop until *count reaches want or about a second has passed. */
static void run_until(struct ctx *c, const int *count, int want) {
    for (int i = 0; i < 100 && *count < want; i++)
        (void) uds_loop_run_once(c->loop, 10);
}

static void on_fire(void *data) {
    struct ctx *c = data;

    c->fired++;
    c->armed_inside = uds_timer_armed(&c->timer);
}

static void on_other(void *data) {
    ((struct ctx *) data)->other_fired++;
}

static void on_fire_again(void *data) {
    struct ctx *c = data;

    c->fired++;
    if (c->again-- > 0)
        assert_int_equal(uds_timer_arm(&c->timer, c->loop, 0, on_fire_again, c), 0);
    c->armed_inside = uds_timer_armed(&c->timer);
}

static void timer_is_armed_until_it_fires_once(void **state) {
    struct ctx *c = *state;

    assert_false(uds_timer_armed(&c->timer));   /* zero-initialised */
    assert_int_equal(uds_timer_arm(&c->timer, c->loop, 5, on_fire, c), 0);
    assert_true(uds_timer_armed(&c->timer));
    run_until(c, &c->fired, 1);
    assert_int_equal(c->fired, 1);
    assert_false(c->armed_inside);              /* spent before its callback runs */
    assert_false(uds_timer_armed(&c->timer));
    for (int i = 0; i < 5; i++)
        (void) uds_loop_run_once(c->loop, 5);
    assert_int_equal(c->fired, 1);
}

static void cancelled_timer_never_fires(void **state) {
    struct ctx *c = *state;

    assert_int_equal(uds_timer_arm(&c->timer, c->loop, 0, on_fire, c), 0);
    uds_timer_cancel(&c->timer);
    assert_false(uds_timer_armed(&c->timer));
    uds_timer_cancel(&c->timer);    /* again, and NULL: nothing happens */
    uds_timer_cancel(NULL);
    for (int i = 0; i < 5; i++)
        (void) uds_loop_run_once(c->loop, 5);
    assert_int_equal(c->fired, 0);
}

static void arming_an_armed_timer_replaces_it(void **state) {
    struct ctx *c = *state;

    assert_int_equal(uds_timer_arm(&c->timer, c->loop, 0, on_other, c), 0);
    assert_int_equal(uds_timer_arm(&c->timer, c->loop, 5, on_fire, c), 0);
    run_until(c, &c->fired, 1);
    for (int i = 0; i < 5; i++)
        (void) uds_loop_run_once(c->loop, 5);
    assert_int_equal(c->fired, 1);
    assert_int_equal(c->other_fired, 0);
}

static void callback_may_arm_its_own_timer_again(void **state) {
    struct ctx *c = *state;

    c->again = 2;
    assert_int_equal(uds_timer_arm(&c->timer, c->loop, 0, on_fire_again, c), 0);
    run_until(c, &c->fired, 3);
    assert_int_equal(c->fired, 3);
    assert_false(c->armed_inside);              /* the last one did not arm it */
    assert_false(uds_timer_armed(&c->timer));
}

/* The loop may give a spent timer's slot to the next one: cancelling the spent timer must
 * not cancel that one. */
static void cancelling_a_spent_timer_leaves_the_next_alone(void **state) {
    struct ctx *c = *state;

    assert_int_equal(uds_timer_arm(&c->timer, c->loop, 0, on_fire, c), 0);
    run_until(c, &c->fired, 1);
    assert_int_equal(uds_timer_arm(&c->other, c->loop, 5, on_other, c), 0);
    uds_timer_cancel(&c->timer);
    run_until(c, &c->other_fired, 1);
    assert_int_equal(c->other_fired, 1);
}

static void bad_arguments_are_einval(void **state) {
    struct ctx *c = *state;

    assert_int_equal(uds_timer_arm(NULL, c->loop, 0, on_fire, c), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_timer_arm(&c->timer, NULL, 0, on_fire, c), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(uds_timer_arm(&c->timer, c->loop, 0, NULL, c), -1);
    assert_int_equal(errno, EINVAL);
    assert_false(uds_timer_armed(&c->timer));
    assert_false(uds_timer_armed(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(timer_is_armed_until_it_fires_once),
        T(cancelled_timer_never_fires),
        T(arming_an_armed_timer_replaces_it),
        T(callback_may_arm_its_own_timer_again),
        T(cancelling_a_spent_timer_leaves_the_next_alone),
        T(bad_arguments_are_einval),
#undef T
    };

    return cmocka_run_group_tests_name("timer", tests, NULL, NULL);
}
