package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
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

// scheme knows the API groups the base uses; strict is apimachinery's
// strict serializer over it: an unknown or duplicated field is an error
// with its path, as kubectl's server-side field validation would make it.
var (
	scheme = func() *runtime.Scheme {
		s := runtime.NewScheme()
		for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme} {
			if err := add(s); err != nil {
				panic(err)
			}
		}
		return s
	}()
	strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
)

// decodeObject decodes one manifest strictly into its API type.
func decodeObject(raw []byte) (runtime.Object, error) {
	obj, _, err := strict.Decode(raw, nil, nil)
	if err != nil {
		return nil, err
	}
	switch obj.(type) {
	case *corev1.ConfigMap, *corev1.Secret, *corev1.ServiceAccount, *appsv1.Deployment, *batchv1.Job, *batchv1.CronJob, *policyv1.PodDisruptionBudget:
		return obj, nil
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return nil, fmt.Errorf("%s %s is a kind this test does not check yet", gvk.GroupVersion(), gvk.Kind)
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
	obj, err := decodeObject(raw)
	if err != nil {
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
