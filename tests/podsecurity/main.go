// pss-check judges pods by Kubernetes' own Pod Security Standards code
// (k8s.io/pod-security-admission/policy, the library the PodSecurity admission plugin
// runs), so "restricted" means what the API server means by it, not our reading of it.
//
// Input on stdin: a JSON list of {"name": ..., "metadata": ObjectMeta, "spec": PodSpec}.
// Output on stdout: a JSON list of {"name": ..., "allowed": bool, "forbidden": [...]}
// at the level given by -level (default restricted) and version "latest".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

type pod struct {
	Name     string            `json:"name"`
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     corev1.PodSpec    `json:"spec"`
}

type verdict struct {
	Name      string   `json:"name"`
	Allowed   bool     `json:"allowed"`
	Forbidden []string `json:"forbidden"`
}

func main() {
	level := flag.String("level", "restricted", "privileged, baseline or restricted")
	flag.Parse()
	parsed, err := api.ParseLevel(*level)
	if err != nil {
		fail(err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fail(err)
	}
	var pods []pod
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&pods); err != nil {
		fail(err)
	}
	lv := api.LevelVersion{Level: parsed, Version: api.LatestVersion()}
	verdicts := []verdict{}
	for i := range pods {
		result := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, &pods[i].Metadata, &pods[i].Spec))
		v := verdict{Name: pods[i].Name, Allowed: result.Allowed, Forbidden: []string{}}
		if !result.Allowed {
			v.Forbidden = append(v.Forbidden, result.ForbiddenReason()+": "+result.ForbiddenDetail())
		}
		verdicts = append(verdicts, v)
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pss-check:", err)
	os.Exit(2)
}
