// Package kubernetes holds no code: its test checks the kustomize base
// beside it against pgredis's source. It is a module of its own so the
// Kubernetes API modules stay out of pgredis's go.mod.
package kubernetes
