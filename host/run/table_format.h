/* The formats kedit table prints in (aligned text, Markdown, CSV): what table.h's callers choose and the
 * cell grid below it (table_grid.h) lays out, so that the grid need not include table.h. */
#ifndef KEDIT_TABLE_FORMAT_H
#define KEDIT_TABLE_FORMAT_H

typedef enum { TABLE_TEXT = 0, TABLE_MARKDOWN, TABLE_CSV } table_format;

#endif
