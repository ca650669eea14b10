#!/usr/bin/env python3
"""bulk.py FUNCDEF OUT: the bulk-path ladder's variants of the generated
UPDATE trigger function of `wide` (pg_get_functiondef in FUNCDEF), each a
piece removed from the one before, written as SQL to OUT."""
import re, sys

src = open(sys.argv[1]).read()
name = re.search(r'FUNCTION (pgredis\.\w+)\(\)', src).group(1)

def rename(body, v):
    return body.replace(name + '()', 'pgredis.v_' + v + '()', 1)

notify = "PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);"
concat = "pgredis_buf := pgredis_buf || pgredis_e;"
assert notify in src and concat in src
product = src
nonotify = product.replace(notify, "NULL;")
noconcat = nonotify.replace(concat, "NULL;")
# The bulk branch's query: the FOR after ELSE, up to its LOOP.
m = re.search(r'\tELSE\n\t\tFOR pgredis_e IN\n(.*?)\n\t\tLOOP\n', src, re.S)
query = m.group(1)
union = query.index('\t\t\t\tUNION ALL\n')
noexcept = noconcat.replace(query, query[:union].rstrip('\n'))
head = src[:src.index('AS $function$') + len('AS $function$')]
def body(b):
    # pgredis_seen is false in a lone UPDATE: no INSERT trigger ran in it.
    return (head + '\nDECLARE\n\tpgredis_seen boolean := false;\nBEGIN\n' + b +
            '\n\tRETURN NULL;\nEND\n$function$;\n')
# Summing the entries' lengths makes the planner compute them (an unused
# column of a subquery is not).
sqlonly = body('\tPERFORM pg_catalog.sum(pg_catalog.octet_length(q.e)) FROM (\n' + query[:union] + '\t) q;')
sqlall = body('\tPERFORM pg_catalog.sum(pg_catalog.octet_length(q.e)) FROM (\n' + query + '\n\t) q;')
noop = body('')
with open(sys.argv[2], 'w') as f:
    for v, b in [('product', product), ('nonotify', nonotify), ('noconcat', noconcat),
                 ('noexcept', noexcept), ('sqlall', sqlall), ('sqlonly', sqlonly), ('noop', noop)]:
        b = rename(b, v).rstrip()
        f.write(b + ('' if b.endswith(';') else ';') + '\n')
