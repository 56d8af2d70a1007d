/* SPDX-License-Identifier: MIT */
/*
 * vpcie/log.h - levelled logging to stderr (or a sink of the caller's).
 *
 * There is no process-wide logger: each device or host handle carries a
 * vpcie_logger, so two devices in one process can log differently.
 */
#ifndef VPCIE_LOG_H
#define VPCIE_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vpcie_log_level {
	VPCIE_LOG_ERROR = 0,
	VPCIE_LOG_WARN = 1,
	VPCIE_LOG_INFO = 2,
	VPCIE_LOG_DEBUG = 3,
};

typedef void (*vpcie_log_fn)(void *opaque, enum vpcie_log_level level,
			     const char *msg);

struct vpcie_logger {
	enum vpcie_log_level level; /* messages above this level are dropped */
	const char *prefix;         /* e.g. program name; may be NULL */
	vpcie_log_fn sink;          /* NULL: "prefix: level: msg" to stderr */
	void *opaque;
};

/*
 * Initialise a logger at the level named by the environment variable
 * VPCIE_LOG ("error", "warn", "info", "debug"), or at def if unset/unknown.
 */
void vpcie_logger_init(struct vpcie_logger *lg, const char *prefix,
		       enum vpcie_log_level def);

/* Parse "error|warn|info|debug"; returns -1 if unknown. */
int vpcie_log_level_parse(const char *s);

void vpcie_log(const struct vpcie_logger *lg, enum vpcie_log_level level,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void vpcie_vlog(const struct vpcie_logger *lg, enum vpcie_log_level level,
		const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#define vpcie_err(lg, ...) vpcie_log((lg), VPCIE_LOG_ERROR, __VA_ARGS__)
#define vpcie_warn(lg, ...) vpcie_log((lg), VPCIE_LOG_WARN, __VA_ARGS__)
#define vpcie_info(lg, ...) vpcie_log((lg), VPCIE_LOG_INFO, __VA_ARGS__)
#define vpcie_dbg(lg, ...)                                              \
	do {                                                            \
		if ((lg) && (lg)->level >= VPCIE_LOG_DEBUG)             \
			vpcie_log((lg), VPCIE_LOG_DEBUG, __VA_ARGS__);  \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif
