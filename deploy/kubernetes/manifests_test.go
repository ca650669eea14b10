package kubernetes

import (
	"cmp"
	"errors"
	"os/exec"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestBase decodes every manifest of the base strictly into its
// Kubernetes API type and checks it against pgredis's code.
func TestBase(t *testing.T) {
	t.Parallel()
	c, err := readCode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadBase(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range checkBase(b, c) {
		t.Error(problem)
	}
}

// TestKustomizeBuild renders the base with kustomize (kubectl's built-in
// one when no kustomize binary is installed) and decodes what it
// renders strictly: one object per listed file, the image rewritten.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	var cmd *exec.Cmd
	if path, err := exec.LookPath("kustomize"); err == nil {
		cmd = exec.Command(path, "build", ".")
	} else if path, err := exec.LookPath("kubectl"); err == nil {
		cmd = exec.Command(path, "kustomize", ".")
	} else {
		t.Skip("neither kustomize nor kubectl is installed")
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, ee.Stderr)
		}
		t.Fatal(err)
	}
	b, err := loadBase(".")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(out), "\n---\n")
	if len(docs) != len(b.kust.Resources) {
		t.Errorf("%s rendered %d objects, want %d (one per listed file)", strings.Join(cmd.Args, " "), len(docs), len(b.kust.Resources))
	}
	im := b.kust.Images[0]
	want := cmp.Or(im.NewName, im.Name) + ":" + im.NewTag
	for i, doc := range docs {
		obj, err := decodeObject([]byte(doc))
		if err != nil {
			t.Errorf("object %d: %v", i, err)
			continue
		}
		var spec *corev1.PodSpec
		switch o := obj.(type) {
		case *appsv1.Deployment:
			spec = &o.Spec.Template.Spec
		case *batchv1.Job:
			spec = &o.Spec.Template.Spec
		case *batchv1.CronJob:
			spec = &o.Spec.JobTemplate.Spec.Template.Spec
		}
		if spec == nil {
			continue
		}
		for _, ct := range spec.Containers {
			if ct.Image != want {
				t.Errorf("%T container %s: rendered image %q, want %q", obj, ct.Name, ct.Image, want)
			}
		}
	}
}
