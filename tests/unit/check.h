/*
 * check.h: the unit tests' one assertion macro.  Each check prints
 * "PASS name" or "FAIL name: why"; check_done() gives the exit status.
 */
#ifndef FAZHI_CHECK_H
#define FAZHI_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed;

#define CHECK(name, cond) do { \
	if (cond) \
		printf("PASS %s\n", (name)); \
	else { \
		printf("FAIL %s: %s (%s:%d)\n", (name), #cond, __FILE__, __LINE__); \
		check_failed = 1; \
	} \
} while (0)

/* Compare strings, showing both on failure. */
#define CHECK_STR(name, got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0) \
		printf("PASS %s\n", (name)); \
	else { \
		printf("FAIL %s: got \"%s\", want \"%s\" (%s:%d)\n", (name), \
		    g_ ? g_ : "(null)", w_ ? w_ : "(null)", __FILE__, __LINE__); \
		check_failed = 1; \
	} \
} while (0)

static inline int
check_done(void)
{
	fflush(stdout);
	return check_failed ? 1 : 0;
}

#endif
