/* alert.c - alert severity names as records spell them (DESIGN §5 "Alert"). */
#include "alert.h"

static const char *const severity_names[] = {
    [IW_SEV_LOW] = "low",
    [IW_SEV_MEDIUM] = "medium",
    [IW_SEV_HIGH] = "high",
    [IW_SEV_CRITICAL] = "critical",
};

/* Returns a static string; "unknown" for a value outside the enum (never NULL). */
const char *iw_severity_name(enum iw_severity s)
{
	if ((unsigned)s >= sizeof(severity_names) / sizeof(severity_names[0]))
		return "unknown";
	return severity_names[s];
}
