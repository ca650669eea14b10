package kubernetes

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization this base uses;
// decoded strictly, anything else in kustomization.yaml is an error, so
// a new feature there comes with a check here.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
}

// base is the decoded kustomize base.
type base struct {
	kust        kustomization
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	accounts    map[string]*corev1.ServiceAccount
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	cronJobs    []*batchv1.CronJob
	pdbs        []*policyv1.PodDisruptionBudget
}

// kinds maps "apiVersion kind" to a new value of its API type.
var kinds = map[string]func() any{
	"v1 ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                     func() any { return &corev1.Secret{} },
	"v1 ServiceAccount":             func() any { return &corev1.ServiceAccount{} },
	"apps/v1 Deployment":            func() any { return &appsv1.Deployment{} },
	"batch/v1 Job":                  func() any { return &batchv1.Job{} },
	"batch/v1 CronJob":              func() any { return &batchv1.CronJob{} },
	"policy/v1 PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
}

// loadBase reads dir's kustomization.yaml and decodes every resource it
// lists strictly into its API type. Every YAML file of dir must be listed,
// and every listed file must exist.
func loadBase(dir string) (*base, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	b := &base{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, accounts: map[string]*corev1.ServiceAccount{}}
	if err := yaml.UnmarshalStrict(raw, &b.kust); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	if b.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || b.kust.Kind != "Kustomization" {
		return nil, fmt.Errorf("kustomization.yaml: apiVersion %q kind %q, want kustomize.config.k8s.io/v1beta1 Kustomization", b.kust.APIVersion, b.kust.Kind)
	}
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	var problems []string
	for _, f := range files {
		name := filepath.Base(f)
		if name != "kustomization.yaml" && !slices.Contains(b.kust.Resources, name) {
			problems = append(problems, fmt.Sprintf("%s is not listed in kustomization.yaml's resources: kubectl apply -k would leave it out", name))
		}
	}
	seen := map[string]bool{}
	for _, res := range b.kust.Resources {
		if seen[res] {
			problems = append(problems, fmt.Sprintf("kustomization.yaml lists %s twice", res))
		}
		seen[res] = true
		if err := b.decode(dir, res); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return b, nil
}

// decode decodes one manifest, one object per file.
func (b *base) decode(dir, res string) error {
	if strings.Contains(res, "/") || !(strings.HasSuffix(res, ".yaml") || strings.HasSuffix(res, ".yml")) {
		return fmt.Errorf("kustomization.yaml lists %s: this base lists manifest files of its own directory only", res)
	}
	raw, err := os.ReadFile(filepath.Join(dir, res))
	if err != nil {
		return fmt.Errorf("kustomization.yaml lists %s: %w", res, err)
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("---")) {
			return fmt.Errorf("%s: one object per file (found a --- separator)", res)
		}
	}
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		return fmt.Errorf("%s: %w", res, err)
	}
	mk, ok := kinds[tm.APIVersion+" "+tm.Kind]
	if !ok {
		return fmt.Errorf("%s: apiVersion %q kind %q is not a type this test knows (want one of %s)", res, tm.APIVersion, tm.Kind, strings.Join(slices.Sorted(maps.Keys(kinds)), ", "))
	}
	obj := mk()
	// Strict: an unknown or duplicated field is an error, as kubectl's
	// server-side field validation would make it.
	if err := yaml.UnmarshalStrict(raw, obj); err != nil {
		return fmt.Errorf("%s: %w", res, err)
	}
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		b.configMaps[o.Name] = o
	case *corev1.Secret:
		b.secrets[o.Name] = o
	case *corev1.ServiceAccount:
		b.accounts[o.Name] = o
	case *appsv1.Deployment:
		b.deployments = append(b.deployments, o)
	case *batchv1.Job:
		b.jobs = append(b.jobs, o)
	case *batchv1.CronJob:
		b.cronJobs = append(b.cronJobs, o)
	case *policyv1.PodDisruptionBudget:
		b.pdbs = append(b.pdbs, o)
	}
	if obj.(metav1.Object).GetName() == "" {
		return fmt.Errorf("%s: metadata.name is empty", res)
	}
	return nil
}
