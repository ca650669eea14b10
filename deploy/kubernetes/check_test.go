package kubernetes

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// problems collects what is wrong, each a line naming the manifest.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// pod is a pod template of the base, with where it lives.
type pod struct {
	where  string
	spec   *corev1.PodSpec
	labels map[string]string
	annots map[string]string
	// job: a pod of a Job or CronJob, which must end.
	job bool
}

// container is one container with the command it runs and the
// environment it gets.
type container struct {
	where   string
	pod     *pod
	c       *corev1.Container
	command string            // a key of help.go's docs: "migrate up", "worker", ...
	env     map[string]string // name -> value, from env and envFrom
}

// checkBase checks the decoded base against the code.
func checkBase(b *base, c *code) problems {
	var p problems
	var pods []*pod
	for _, d := range b.deployments {
		pods = append(pods, &pod{where: "Deployment " + d.Name, spec: &d.Spec.Template.Spec, labels: d.Spec.Template.Labels, annots: d.Spec.Template.Annotations})
	}
	for _, j := range b.jobs {
		pods = append(pods, &pod{where: "Job " + j.Name, spec: &j.Spec.Template.Spec, labels: j.Spec.Template.Labels, annots: j.Spec.Template.Annotations, job: true})
	}
	for _, cj := range b.cronJobs {
		pods = append(pods, &pod{where: "CronJob " + cj.Name, spec: &cj.Spec.JobTemplate.Spec.Template.Spec, labels: cj.Spec.JobTemplate.Spec.Template.Labels, annots: cj.Spec.JobTemplate.Spec.Template.Annotations, job: true})
	}
	byCommand := map[string][]*container{}
	for _, pd := range pods {
		checkPod(&p, b, pd)
		for i := range pd.spec.Containers {
			ct := checkContainer(&p, b, c, pd, &pd.spec.Containers[i])
			byCommand[ct.command] = append(byCommand[ct.command], ct)
		}
		if len(pd.spec.InitContainers) > 0 {
			p.add("%s: has init containers, which this test does not check yet", pd.where)
		}
	}
	checkImages(&p, b)
	for _, want := range []string{"migrate up", "worker", "resync"} {
		if len(byCommand[want]) == 0 {
			p.add("no container runs pgredis %s", want)
		}
	}
	checkWorker(&p, b, c, byCommand["worker"])
	checkJobs(&p, b, byCommand)
	checkSecrets(&p, b)
	// A key no container reads yet is still a variable in waiting.
	for _, cm := range b.configMaps {
		for k := range cm.Data {
			if !c.envVars[k] {
				p.add("ConfigMap %s: %s is not a variable pgredis's configuration reads", cm.Name, k)
			}
		}
	}
	for _, sec := range b.secrets {
		for k := range sec.StringData {
			if !c.envVars[k] {
				p.add("Secret %s: %s is not a variable pgredis's configuration reads", sec.Name, k)
			}
		}
	}
	return p
}

func checkPod(p *problems, b *base, pd *pod) {
	s := pd.spec
	if sa := s.ServiceAccountName; sa != "" && b.accounts[sa] == nil {
		p.add("%s: serviceAccountName %s is no ServiceAccount of the base", pd.where, sa)
	}
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		p.add("%s: automountServiceAccountToken should be false: pgredis never talks to the Kubernetes API", pd.where)
	}
	if pd.job && s.RestartPolicy != corev1.RestartPolicyNever && s.RestartPolicy != corev1.RestartPolicyOnFailure {
		p.add("%s: restartPolicy %q, want Never or OnFailure for a Job's pod", pd.where, s.RestartPolicy)
	}
	if s.HostNetwork || s.HostPID || s.HostIPC {
		p.add("%s: shares a host namespace", pd.where)
	}
}

func checkContainer(p *problems, b *base, c *code, pd *pod, ct *corev1.Container) *container {
	where := pd.where + " container " + ct.Name
	out := &container{where: where, pod: pd, c: ct, env: map[string]string{}}
	if len(ct.Command) > 0 {
		p.add("%s: sets command %v: the image's ENTRYPOINT is pgredis, pass the subcommand in args", where, ct.Command)
	}
	out.command = commandOf(p, c, where, ct.Args)

	// The environment: envFrom first, env over it, as the kubelet does.
	for _, from := range ct.EnvFrom {
		if from.Prefix != "" {
			p.add("%s: envFrom prefix %q would rename every variable", where, from.Prefix)
		}
		switch {
		case from.ConfigMapRef != nil:
			cm := b.configMaps[from.ConfigMapRef.Name]
			if cm == nil {
				p.add("%s: envFrom ConfigMap %s is not in the base", where, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				out.env[from.Prefix+k] = v
			}
			for k := range cm.BinaryData {
				p.add("%s: ConfigMap %s has binaryData %s, which envFrom skips", where, cm.Name, k)
			}
		case from.SecretRef != nil:
			sec := b.secrets[from.SecretRef.Name]
			if sec == nil {
				p.add("%s: envFrom Secret %s is not in the base", where, from.SecretRef.Name)
				continue
			}
			for k, v := range sec.Data {
				out.env[from.Prefix+k] = string(v)
			}
			for k, v := range sec.StringData {
				out.env[from.Prefix+k] = v
			}
		}
	}
	for _, e := range ct.Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil {
			switch {
			case ref.ConfigMapKeyRef != nil:
				cm := b.configMaps[ref.ConfigMapKeyRef.Name]
				if cm == nil {
					p.add("%s: %s from ConfigMap %s, not in the base", where, e.Name, ref.ConfigMapKeyRef.Name)
				} else if cv, ok := cm.Data[ref.ConfigMapKeyRef.Key]; !ok {
					p.add("%s: %s from ConfigMap %s key %s, which it does not have", where, e.Name, cm.Name, ref.ConfigMapKeyRef.Key)
				} else {
					v = cv
				}
			case ref.SecretKeyRef != nil:
				sec := b.secrets[ref.SecretKeyRef.Name]
				if sec == nil {
					p.add("%s: %s from Secret %s, not in the base", where, e.Name, ref.SecretKeyRef.Name)
				} else if sv, ok := sec.StringData[ref.SecretKeyRef.Key]; ok {
					v = sv
				} else if bv, ok := sec.Data[ref.SecretKeyRef.Key]; ok {
					v = string(bv)
				} else {
					p.add("%s: %s from Secret %s key %s, which it does not have", where, e.Name, sec.Name, ref.SecretKeyRef.Key)
				}
			default:
				p.add("%s: %s comes from a field or resource, which pgredis does not read", where, e.Name)
			}
		}
		out.env[e.Name] = v
	}
	for _, name := range slices.Sorted(maps.Keys(out.env)) {
		switch {
		case strings.HasPrefix(name, "PGREDIS_TEST_"):
			p.add("%s: sets %s, a variable for pgredis's own test suite", where, name)
		case !c.envVars[name]:
			p.add("%s: sets %s, which pgredis's configuration does not read (cmd/pgredis)", where, name)
		}
	}
	// The variables this command cannot do without: DATABASE_URL and
	// PGREDIS_TABLES where it reads them, and REDIS_URL where it talks to
	// Redis (its default, 127.0.0.1, is never right in a pod).
	if reads, ok := c.commands[out.command]; ok {
		var need []string
		for _, v := range reads {
			switch v {
			case "all":
				need = append(need, "DATABASE_URL", "PGREDIS_TABLES", "REDIS_URL")
			case "redis":
				need = append(need, "REDIS_URL")
			case "DATABASE_URL", "PGREDIS_TABLES":
				need = append(need, v)
			}
		}
		for _, v := range need {
			if strings.TrimSpace(out.env[v]) == "" {
				p.add("%s: pgredis %s needs %s, which its environment does not set", where, out.command, v)
			}
		}
	}

	checkSecurity(p, c, where, pd.spec.SecurityContext, ct.SecurityContext)
	checkResources(p, where, ct.Resources)
	return out
}

// commandOf finds the pgredis command args run: the longest run of
// leading non-flag words that help.go documents, whose first word
// main.go dispatches.
func commandOf(p *problems, c *code, where string, args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	for n := len(words); n > 0; n-- {
		name := strings.Join(words[:n], " ")
		if _, ok := c.commands[name]; !ok || !c.dispatched[words[0]] {
			continue
		}
		// A group ("migrate") runs nothing by itself: it needs one of its
		// subcommands ("migrate up"), and a misspelt one is refused.
		for other := range c.commands {
			if strings.HasPrefix(other, name+" ") {
				name = ""
				break
			}
		}
		if name != "" {
			return name
		}
		break
	}
	p.add("%s: args %q run no pgredis command (cmd/pgredis/help.go documents %s)", where, args, strings.Join(slices.Sorted(maps.Keys(c.commands)), ", "))
	return ""
}

func checkSecurity(p *problems, c *code, where string, ps *corev1.PodSecurityContext, cs *corev1.SecurityContext) {
	if ps == nil {
		ps = &corev1.PodSecurityContext{}
	}
	if cs == nil {
		cs = &corev1.SecurityContext{}
	}
	// The container's setting wins over the pod's.
	user, group, nonRoot, seccomp := ps.RunAsUser, ps.RunAsGroup, ps.RunAsNonRoot, ps.SeccompProfile
	if cs.RunAsUser != nil {
		user = cs.RunAsUser
	}
	if cs.RunAsGroup != nil {
		group = cs.RunAsGroup
	}
	if cs.RunAsNonRoot != nil {
		nonRoot = cs.RunAsNonRoot
	}
	if cs.SeccompProfile != nil {
		seccomp = cs.SeccompProfile
	}
	if user == nil || *user != c.user {
		p.add("%s: runAsUser %s, want the Dockerfile's USER uid %d", where, ptrString(user), c.user)
	}
	if group == nil || *group != c.group {
		p.add("%s: runAsGroup %s, want the Dockerfile's USER gid %d", where, ptrString(group), c.group)
	}
	if nonRoot == nil || !*nonRoot {
		p.add("%s: runAsNonRoot is not true", where)
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p.add("%s: seccompProfile is not RuntimeDefault", where)
	}
	if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
		p.add("%s: readOnlyRootFilesystem is not true (pgredis writes no file)", where)
	}
	if cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
		p.add("%s: allowPrivilegeEscalation is not false", where)
	}
	if cs.Privileged != nil && *cs.Privileged {
		p.add("%s: privileged", where)
	}
	if cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") {
		p.add("%s: capabilities do not drop ALL", where)
	} else if len(cs.Capabilities.Add) > 0 {
		p.add("%s: adds capabilities %v; pgredis needs none", where, cs.Capabilities.Add)
	}
}

func ptrString(v *int64) string {
	if v == nil {
		return "unset"
	}
	return strconv.FormatInt(*v, 10)
}

func checkResources(p *problems, where string, r corev1.ResourceRequirements) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if !hasReq || !hasLim {
			p.add("%s: needs both a %s request and a %s limit", where, name, name)
			continue
		}
		if req.Cmp(lim) > 0 {
			p.add("%s: %s request %s above its limit %s", where, name, req.String(), lim.String())
		}
	}
	if m, ok := r.Limits[corev1.ResourceMemory]; ok && m.Cmp(resource.MustParse("64Mi")) < 0 {
		p.add("%s: memory limit %s is below what pgredis needs to start", where, m.String())
	}
}

// checkImages: every container runs the image kustomization.yaml's
// images entry rewrites, so an overlay's kustomize edit set image
// reaches them all.
func checkImages(p *problems, b *base) {
	var names []string
	for _, im := range b.kust.Images {
		names = append(names, im.Name)
	}
	each := func(where string, spec *corev1.PodSpec) {
		for _, ct := range spec.Containers {
			name := ct.Image
			if i := strings.IndexAny(name, ":@"); i >= 0 {
				name = name[:i]
			}
			if !slices.Contains(names, name) {
				p.add("%s container %s: image %q is not the one kustomization.yaml's images sets (%v)", where, ct.Name, ct.Image, names)
			}
		}
	}
	for _, d := range b.deployments {
		each("Deployment "+d.Name, &d.Spec.Template.Spec)
	}
	for _, j := range b.jobs {
		each("Job "+j.Name, &j.Spec.Template.Spec)
	}
	for _, cj := range b.cronJobs {
		each("CronJob "+cj.Name, &cj.Spec.JobTemplate.Spec.Template.Spec)
	}
	if len(names) != 1 {
		p.add("kustomization.yaml: want exactly one images entry (the Dockerfile's image), have %v", names)
	}
}

// checkWorker checks the worker Deployment: its replicas, probes, port,
// scrape annotations, grace period and PodDisruptionBudget.
func checkWorker(p *problems, b *base, c *code, workers []*container) {
	if len(workers) != 1 {
		p.add("want one worker container, have %d", len(workers))
		return
	}
	w := workers[0]
	inDeployment := false
	for _, d := range b.deployments {
		if &d.Spec.Template.Spec != w.pod.spec {
			continue
		}
		inDeployment = true
		var replicas int32 = 1
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		if replicas != 2 {
			p.add("%s: replicas %d, want 2: one active and one standby that takes over within 10 s (guarantee 5)", w.pod.where, replicas)
		}
		checkPDB(p, b, w, replicas)
	}
	if !inDeployment {
		p.add("%s: the worker runs outside a Deployment", w.pod.where)
	}

	// The HTTP server: PGREDIS_HTTP_ADDR's port is the containerPort the
	// probes and the scrape use.
	addr := w.env["PGREDIS_HTTP_ADDR"]
	_, portStr, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portStr)
	if addr == "" || err != nil || perr != nil {
		p.add("%s: PGREDIS_HTTP_ADDR=%q: the worker serves no probes or metrics without a host:port", w.where, addr)
		return
	}
	named := map[string]int32{}
	hasPort := false
	for _, cp := range w.c.Ports {
		named[cp.Name] = cp.ContainerPort
		hasPort = hasPort || int(cp.ContainerPort) == port
	}
	if !hasPort {
		p.add("%s: no containerPort %d, PGREDIS_HTTP_ADDR's port", w.where, port)
	}
	probe := func(kind string, pr *corev1.Probe, wantReady bool) {
		if pr == nil {
			if kind != "startupProbe" {
				p.add("%s: no %s", w.where, kind)
			}
			return
		}
		if pr.HTTPGet == nil {
			p.add("%s: %s is not an httpGet on the worker's endpoints", w.where, kind)
			return
		}
		path := pr.HTTPGet.Path
		ready, ok := c.routes[path]
		switch {
		case !ok:
			p.add("%s: %s path %s is not served by cmd/pgredis/http.go (it serves %s)", w.where, kind, path, strings.Join(slices.Sorted(maps.Keys(c.routes)), ", "))
		case wantReady && !ready:
			p.add("%s: %s path %s does not answer by the worker's readiness (Ready)", w.where, kind, path)
		case !wantReady && ready:
			p.add("%s: %s on %s, the readiness endpoint: a PostgreSQL or Redis outage would restart every worker", w.where, kind, path)
		case !wantReady && path == c.metricsPath:
			p.add("%s: %s on %s, the metrics endpoint: liveness wants the cheap /healthz", w.where, kind, path)
		}
		got := pr.HTTPGet.Port.IntValue()
		if pr.HTTPGet.Port.Type == intstr.String {
			np, ok := named[pr.HTTPGet.Port.StrVal]
			if !ok {
				p.add("%s: %s port %q names no containerPort", w.where, kind, pr.HTTPGet.Port.StrVal)
				return
			}
			got = int(np)
		}
		if got != port {
			p.add("%s: %s port %d, but PGREDIS_HTTP_ADDR=%s", w.where, kind, got, addr)
		}
	}
	probe("readinessProbe", w.c.ReadinessProbe, true)
	probe("livenessProbe", w.c.LivenessProbe, false)
	probe("startupProbe", w.c.StartupProbe, false)

	if w.pod.annots["prometheus.io/scrape"] != "true" {
		p.add("%s: no prometheus.io/scrape: \"true\" annotation", w.pod.where)
	} else {
		if ap := w.pod.annots["prometheus.io/port"]; ap != portStr {
			p.add("%s: prometheus.io/port %q, but PGREDIS_HTTP_ADDR=%s", w.pod.where, ap, addr)
		}
		if path := w.pod.annots["prometheus.io/path"]; path != c.metricsPath {
			p.add("%s: prometheus.io/path %q, but cmd/pgredis/http.go serves metrics on %s", w.pod.where, path, c.metricsPath)
		}
	}

	// Grace: the kubelet's SIGKILL must not cut the clean stop short.
	stop := c.stopTimeout
	if v, ok := w.env["PGREDIS_STOP_TIMEOUT"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			p.add("%s: PGREDIS_STOP_TIMEOUT=%s is no duration", w.where, v)
		}
		stop = d
	}
	bound := stop + c.httpShutdown
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := w.pod.spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if time.Duration(grace)*time.Second < bound {
		p.add("%s: terminationGracePeriodSeconds %d, below the worker's stop bound %s (PGREDIS_STOP_TIMEOUT %s + HTTP shutdown %s)", w.pod.where, grace, bound, stop, c.httpShutdown)
	}
}

// checkPDB: one budget selects the worker's pods and, with every pod
// ready, lets exactly one go: never both (no worker left to take the
// lock), and not none (a drain could never finish).
func checkPDB(p *problems, b *base, w *container, replicas int32) {
	var found []*policyv1.PodDisruptionBudget
	for _, pdb := range b.pdbs {
		sel, err := metav1LabelSelector(pdb)
		if err != nil {
			p.add("PodDisruptionBudget %s: %v", pdb.Name, err)
			continue
		}
		if sel.Matches(labels.Set(w.pod.labels)) {
			found = append(found, pdb)
		}
	}
	if len(found) != 1 {
		p.add("%s: want one PodDisruptionBudget selecting its pods, have %d", w.pod.where, len(found))
		return
	}
	pdb := found[0]
	var allowed int
	switch {
	case pdb.Spec.MaxUnavailable != nil && pdb.Spec.MinAvailable == nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(replicas), true)
		if err != nil {
			p.add("PodDisruptionBudget %s: %v", pdb.Name, err)
		}
		allowed = n
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable == nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(replicas), true)
		if err != nil {
			p.add("PodDisruptionBudget %s: %v", pdb.Name, err)
		}
		allowed = int(replicas) - n
	default:
		p.add("PodDisruptionBudget %s: set exactly one of minAvailable and maxUnavailable", pdb.Name)
		return
	}
	if allowed != 1 {
		p.add("PodDisruptionBudget %s: lets %d of %d ready workers go at once, want 1: one stays to hold or take the lock", pdb.Name, allowed, replicas)
	}
	if pol := pdb.Spec.UnhealthyPodEvictionPolicy; pol == nil || *pol != policyv1.AlwaysAllow {
		p.add("PodDisruptionBudget %s: unhealthyPodEvictionPolicy should be AlwaysAllow: an unready worker does no work, and the default blocks drains while a store is down", pdb.Name)
	}
}

func metav1LabelSelector(pdb *policyv1.PodDisruptionBudget) (labels.Selector, error) {
	if pdb.Spec.Selector == nil {
		return nil, fmt.Errorf("no selector")
	}
	return metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
}

// checkJobs: the migrate Job and the resync CronJob end, retry a little
// and never overlap.
func checkJobs(p *problems, b *base, byCommand map[string][]*container) {
	for _, j := range b.jobs {
		where := "Job " + j.Name
		if j.Spec.BackoffLimit == nil {
			p.add("%s: no backoffLimit", where)
		}
		if j.Spec.ActiveDeadlineSeconds == nil {
			p.add("%s: no activeDeadlineSeconds: a hung run would hold its pod forever", where)
		}
	}
	for _, cj := range b.cronJobs {
		where := "CronJob " + cj.Name
		if cj.Spec.ConcurrencyPolicy != "Forbid" {
			p.add("%s: concurrencyPolicy %q, want Forbid: overlapping runs are safe but wasted", where, cj.Spec.ConcurrencyPolicy)
		}
		if len(strings.Fields(cj.Spec.Schedule)) != 5 {
			p.add("%s: schedule %q is not five cron fields", where, cj.Spec.Schedule)
		}
		if d := cj.Spec.StartingDeadlineSeconds; d == nil || *d <= 0 {
			p.add("%s: no startingDeadlineSeconds", where)
		}
		js := cj.Spec.JobTemplate.Spec
		if js.BackoffLimit == nil {
			p.add("%s: no backoffLimit", where)
		}
		if d := js.ActiveDeadlineSeconds; d == nil {
			p.add("%s: no activeDeadlineSeconds: a hung run would block every later one (Forbid)", where)
		} else if *d >= 24*3600 {
			p.add("%s: activeDeadlineSeconds %d is a day or more: a hung run would skip the next", where, *d)
		}
	}
	for _, ct := range byCommand["migrate up"] {
		if !ct.pod.job {
			p.add("%s: pgredis migrate up runs once, in a Job", ct.where)
		}
	}
	for _, ct := range byCommand["resync"] {
		if !strings.HasPrefix(ct.pod.where, "CronJob ") {
			p.add("%s: pgredis resync belongs in the CronJob", ct.where)
		}
	}
}

// checkSecrets: the base's Secret holds placeholders only, and says so.
func checkSecrets(p *problems, b *base) {
	for _, sec := range b.secrets {
		if len(sec.Data) > 0 {
			p.add("Secret %s: data holds real-looking values; the base keeps marked placeholders in stringData", sec.Name)
		}
		for k, v := range sec.StringData {
			if !strings.Contains(v, "CHANGE-ME") {
				p.add("Secret %s: %s is not marked as a placeholder (CHANGE-ME)", sec.Name, k)
			}
		}
	}
}
