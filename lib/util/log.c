/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vpcie/log.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int vpcie_log_level_parse(const char *s)
{
	if (!s)
		return -1;
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcasecmp(s, level_names[i]))
			return (int)i;
	return -1;
}

void vpcie_logger_init(struct vpcie_logger *lg, const char *prefix,
		       enum vpcie_log_level def)
{
	int env = vpcie_log_level_parse(getenv("VPCIE_LOG"));

	memset(lg, 0, sizeof(*lg));
	lg->level = env >= 0 ? (enum vpcie_log_level)env : def;
	lg->prefix = prefix;
}

void vpcie_vlog(const struct vpcie_logger *lg, enum vpcie_log_level level,
		const char *fmt, va_list ap)
{
	char msg[1024];

	if ((lg && level > lg->level) || !fmt)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (lg && lg->sink) {
		lg->sink(lg->opaque, level, msg);
		return;
	}
	/* One fprintf per line so lines from several processes do not mix. */
	fprintf(stderr, "%s%s%s: %s\n", lg && lg->prefix ? lg->prefix : "",
		lg && lg->prefix ? ": " : "", level_names[level], msg);
}

void vpcie_log(const struct vpcie_logger *lg, enum vpcie_log_level level,
	       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpcie_vlog(lg, level, fmt, ap);
	va_end(ap);
}
