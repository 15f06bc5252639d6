/* cs_paths: where connstate finds things, and options that fall back to the environment.
 * The home directory, the running executable's directory, the default config directory.
 * None of these functions blocks beyond a getpwuid or a readlink. */
#ifndef CS_PATHS_H
#define CS_PATHS_H

/* $env when set and not empty (env may be NULL), else ~/.connstate/LEAF, from $HOME or the
 * password database. Returns a malloc'd string (the caller frees it), or NULL when there
 * is no home directory or memory. */
char *cs_home_path(const char *env, const char *leaf);

/* An option's value: flag when given, else $env when set and not empty, else fallback
 * (may be NULL). Returns one of them, borrowed. */
const char *cs_opt(const char *flag, const char *env, const char *fallback);

/* DIR/relative, where DIR holds the running executable (/proc/self/exe): how programs find
 * what was installed beside them. Returns a malloc'd string (the caller frees it), or NULL
 * when the executable's path cannot be read. */
char *cs_exe_path(const char *relative);

/* The default config directory: $CONNSTATE_CONFIG_DIR, else ~/.connstate/config. Returns a
 * malloc'd string (the caller frees it), or NULL when there is no home directory. */
char *cs_config_default_dir(void);

#endif
