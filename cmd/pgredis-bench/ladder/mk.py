# The queue-mode trigger ladder of BENCHMARKS.md (issue 18): builds
# variants of the single-row UPDATE trigger function, each piece removed in
# turn, as pgredis.v_<name>() in <name>.sql, from the generated function
# (psql -tAc "select pg_get_functiondef('pgredis.t_<hash>_upd'::regproc)"
# > /tmp/upd.sql). cg.sh counts a variant's instructions per UPDATE under
# callgrind in a private cluster; tps.sh measures kept throughput with 32
# durable pgbench writers while lock M is held (writers queue, no drain).
# Scratch tooling: paths are /tmp/upd.sql and /tmp/ladder.
import re,sys
src=open('/tmp/upd.sql').read()
ver=re.search(r"'p2 (\w+) '", src).group(1)
hdr_old=re.search(r"pgredis_hdr := ('p2 .*?E'\\n');", src).group(0)
def noset(s):
    return re.sub(r" SET (?!search_path).*\n","",s)
def inline(s):
    s=s.replace("\tpgredis_q boolean;\n","\tpgredis_q boolean;\n\tpgredis_s bigint;\n\tpgredis_x bigint;\n\tpgredis_k integer;\n",1)
    new=("pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);\n\t\t\tpgredis_x := pg_catalog.txid_current();\n\t\t\t"
         "pgredis_hdr := 'p2 %s ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\\n';"%ver)
    s=s.replace(hdr_old,new)
    enq=("IF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 0) > 1000000 THEN\n"
         "\t\t\tPERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');\n\t\tELSE\n"
         "\t\t\tpgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_%s', true), '')::integer, 0) + 1;\n"
         "\t\t\tpgredis_e := pg_catalog.set_config('pgredis.q_%s', pgredis_k::text, true);\n"
         "\t\t\tIF pgredis_k <= 64 THEN\n\t\t\t\tINSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);\n"
         "\t\t\tELSIF pgredis_k = 65 THEN\n\t\t\t\tINSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X4:why!');\n\t\t\tEND IF;\n\t\tEND IF;")%(ver,ver)
    # pgredis_e is the loop variable; use after-loop only usage safe in flush; in loop it is overwritten? keep a separate var
    enq=enq.replace("pgredis_e := pg_catalog.set_config","pgredis_nv := pg_catalog.set_config")
    return s.replace("PERFORM pgredis.enqueue(pgredis_hdr || pgredis_buf);",enq)
def nolock(s):
    return s.replace("pgredis_q := pgredis.queueing();","pgredis_q := true;")
def noexc(s):
    i=s.index("EXCEPTION WHEN OTHERS"); j=s.index("END\n$function$")
    return s[:i]+s[j:]
def noseq(s):
    return s.replace("pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);","pgredis_s := 1;")
def nosecdef(s):
    return s.replace(" SECURITY DEFINER\n","\n")
v={}
v['base']=src
v['noset']=noset(src)
v['inline']=inline(v['noset'])
v['nolock']=nolock(v['inline'])
v['noseq']=noseq(v['nolock'])
v['noexc']=noexc(v['noseq'])
v['nosecdef']=nosecdef(noset(v['noexc']).replace(" SET search_path TO 'pg_catalog', 'public', 'pg_temp'\n",""))
v['inline8']=inline(src)  # inline with all 8 SETs kept (product candidate A)
for k,s in v.items():
    s=re.sub(r"pgredis\.t_\w+_upd\(\)","pgredis.v_%s()"%k,s,count=1)
    open(k+'.sql','w').write(s)
open('noop.sql','w').write("CREATE OR REPLACE FUNCTION pgredis.v_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;\n")
print(' '.join(v))
