package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redis builds the Redis client REDIS_URL and the PGREDIS_REDIS_*
// variables describe: one server, a Redis Cluster
// (PGREDIS_REDIS_CLUSTER=true; REDIS_URL names a seed node, ?addr=
// adds more), or a master found through Sentinel
// (PGREDIS_REDIS_SENTINEL_MASTER and PGREDIS_REDIS_SENTINEL_ADDRS;
// REDIS_URL then gives the master's credentials, database and TLS).
// rediss:// is TLS; ?skip_verify=true accepts any certificate,
// PGREDIS_REDIS_CA_CERT adds a CA to trust (a provider's self-signed one).
func (e *env) redis() (redis.UniversalClient, error) {
	if e.RedisCluster && e.SentinelMaster != "" {
		return nil, fmt.Errorf("PGREDIS_REDIS_CLUSTER and PGREDIS_REDIS_SENTINEL_MASTER exclude each other: Sentinel manages non-cluster masters")
	}
	if e.RedisCluster {
		opts, err := redis.ParseClusterURL(e.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL is not a valid redis:// or rediss:// cluster URL: %s", redactErr(err))
		}
		if opts.TLSConfig, err = e.tlsConfig(opts.TLSConfig); err != nil {
			return nil, err
		}
		opts.DialTimeout = 5 * time.Second
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(e.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL is not a valid redis:// or rediss:// URL: %s", redactErr(err))
	}
	if opts.TLSConfig, err = e.tlsConfig(opts.TLSConfig); err != nil {
		return nil, err
	}
	opts.DialTimeout = 5 * time.Second
	if e.SentinelMaster == "" {
		return redis.NewClient(opts), nil
	}
	var addrs []string
	for _, a := range strings.Split(e.SentinelAddrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("PGREDIS_REDIS_SENTINEL_MASTER is set but PGREDIS_REDIS_SENTINEL_ADDRS is empty: list the sentinels, e.g. PGREDIS_REDIS_SENTINEL_ADDRS=10.0.0.1:26379,10.0.0.2:26379")
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:       e.SentinelMaster,
		SentinelAddrs:    addrs,
		SentinelPassword: e.SentinelPassword,
		Username:         opts.Username,
		Password:         opts.Password,
		DB:               opts.DB,
		TLSConfig:        opts.TLSConfig,
		DialTimeout:      opts.DialTimeout,
	}), nil
}

// tlsConfig adds PGREDIS_REDIS_CA_CERT and the client certificate of
// PGREDIS_REDIS_TLS_CERT_FILE / PGREDIS_REDIS_TLS_KEY_FILE (for a server
// that authenticates clients by certificate, tls-auth-clients yes) to a
// rediss:// URL's TLS settings.
func (e *env) tlsConfig(cfg *tls.Config) (*tls.Config, error) {
	if e.RedisCACert == "" && e.RedisTLSCertFile == "" && e.RedisTLSKeyFile == "" {
		return cfg, nil
	}
	if cfg == nil {
		set := "PGREDIS_REDIS_CA_CERT"
		if e.RedisCACert == "" {
			set = "PGREDIS_REDIS_TLS_CERT_FILE/PGREDIS_REDIS_TLS_KEY_FILE"
		}
		return nil, fmt.Errorf("%s is set but REDIS_URL is not a rediss:// (TLS) URL", set)
	}
	if e.RedisCACert != "" {
		pem, err := os.ReadFile(e.RedisCACert)
		if err != nil {
			return nil, fmt.Errorf("PGREDIS_REDIS_CA_CERT: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("PGREDIS_REDIS_CA_CERT=%s holds no PEM certificate", e.RedisCACert)
		}
		cfg.RootCAs = pool
	}
	if e.RedisTLSCertFile != "" || e.RedisTLSKeyFile != "" {
		if e.RedisTLSCertFile == "" || e.RedisTLSKeyFile == "" {
			return nil, fmt.Errorf("PGREDIS_REDIS_TLS_CERT_FILE and PGREDIS_REDIS_TLS_KEY_FILE go together: set both (the client certificate and its private key, PEM)")
		}
		pair, err := tls.LoadX509KeyPair(e.RedisTLSCertFile, e.RedisTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("PGREDIS_REDIS_TLS_CERT_FILE=%s / PGREDIS_REDIS_TLS_KEY_FILE=%s: %w", e.RedisTLSCertFile, e.RedisTLSKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
