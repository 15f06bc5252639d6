/* cs_semver: semantic versions and the version constraints of plugin references.
 * The constraint language is the one Steampipe accepts after '@' in a plugin reference
 * (that of the Go library Masterminds/semver v3): an exact version (0.5.0, =0.5.0), a
 * comparison (>0.5, >=0.5.1, <1, <=1.2, !=0.5.3), a tilde (~0.5.1: >=0.5.1 <0.6.0, also ~>), a
 * caret (^0.5: >=0.5.0 <0.6.0; ^1.2: >=1.2.0 <2.0.0), a wildcard (0.5.x, 0.5.*, 0.5: any
 * 0.5 patch), a hyphen range (0.5 - 0.7.2), constraints that must all hold separated by
 * commas or spaces, and alternatives separated by ||. A prerelease version (1.0.0-beta)
 * satisfies only alternatives that name a prerelease themselves. None of these blocks. */
#ifndef CS_SEMVER_H
#define CS_SEMVER_H

#include <stdbool.h>

#define CS_SEMVER_MAX_TEXT 255 /* bytes of a version or a constraint */

/* Checks a constraint. Returns NULL when valid, else a static text saying what is wrong. */
const char *cs_semver_constraint_problem(const char *constraint);

/* Checks a version: [v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], numbers below 2^63.
 * Returns NULL when valid, else a static text saying what is wrong. */
const char *cs_semver_version_problem(const char *version);

/* Returns 1 when version satisfies constraint, 0 when it does not, -1 when either is
 * invalid (see the two checks above). */
int cs_semver_satisfies(const char *version, const char *constraint);

#endif
