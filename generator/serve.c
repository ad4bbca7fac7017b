/*
 * serve.c: `fazhi serve` (being written; see issue 9).
 */
#include <stdio.h>

#include "build.h"

int
build_serve(const struct build_args *a)
{
	(void)a;
	fputs("fazhi serve: not available in this build yet\n", stderr);
	return 2;
}
