#ifndef KEDIT_VERSION_H
#define KEDIT_VERSION_H
#define KEDIT_VERSION "0.1.0"
#endif
