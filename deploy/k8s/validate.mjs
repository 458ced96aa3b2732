#!/usr/bin/env node
// npm run lint:k8s: check every manifest in this folder against the Kubernetes JSON schemas
// (kubernetes-models) and against what the app needs: probes on the right port, preStop, a grace
// period above SHUTDOWN_TIMEOUT + the preStop pause, selectors that match the pod labels.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

const models = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};
const folder = import.meta.dirname;
const problems = [];
const objects = [];

for (const file of readdirSync(folder).filter(
  (name) => /\.ya?ml$/.test(name) && name !== 'kustomization.yaml',
)) {
  for (const document of parseAllDocuments(readFileSync(join(folder, file), 'utf8'))) {
    if (document.errors.length > 0) problems.push(`${file}: ${document.errors[0].message}`);
    const object = document.toJS();
    if (!object) continue;
    const where = `${file}: ${object.kind}/${object.metadata?.name}`;
    const Model = models[`${object.apiVersion}/${object.kind}`];
    if (!Model) {
      problems.push(`${where}: no schema for ${object.apiVersion} ${object.kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      problems.push(`${where}: ${error.message}`);
    }
    objects.push({ where, object });
  }
}

const env = (container, name) => container.env?.find((entry) => entry.name === name)?.value;
for (const { where, object } of objects) {
  if (object.kind === 'Deployment') {
    const labels = object.spec.template.metadata.labels;
    for (const [key, value] of Object.entries(object.spec.selector.matchLabels)) {
      if (labels[key] !== value)
        problems.push(`${where}: selector ${key}=${value} does not match the pod labels`);
    }
    const pod = object.spec.template.spec;
    for (const container of pod.containers) {
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        if (!container[probe]?.httpGet) problems.push(`${where}: ${container.name} has no HTTP ${probe}`);
      }
      const pause = Number(container.lifecycle?.preStop?.exec?.command?.at(-1) ?? Number.NaN);
      if (!Number.isFinite(pause)) problems.push(`${where}: ${container.name} has no preStop pause`);
      const shutdown = Number(env(container, 'SHUTDOWN_TIMEOUT') ?? 0);
      if ((pod.terminationGracePeriodSeconds ?? 30) <= shutdown + pause) {
        problems.push(
          `${where}: terminationGracePeriodSeconds must exceed SHUTDOWN_TIMEOUT + preStop (${shutdown + pause})`,
        );
      }
      const ports = new Set((container.ports ?? []).flatMap((port) => [port.name, port.containerPort]));
      for (const probe of ['readinessProbe', 'livenessProbe']) {
        if (!ports.has(container[probe]?.httpGet?.port))
          problems.push(`${where}: ${probe} port is not a container port`);
      }
    }
  }
  if (object.kind === 'PodDisruptionBudget' || object.kind === 'Service') {
    const selector = object.spec.selector.matchLabels ?? object.spec.selector;
    const matched = objects.some(
      (other) =>
        other.object.kind === 'Deployment' &&
        Object.entries(selector).every(
          ([key, value]) => other.object.spec.template.metadata.labels[key] === value,
        ),
    );
    if (!matched) problems.push(`${where}: its selector matches no Deployment`);
  }
  if (object.kind === 'HorizontalPodAutoscaler') {
    const target = object.spec.scaleTargetRef;
    if (
      !objects.some(
        (other) => other.object.kind === target.kind && other.object.metadata.name === target.name,
      )
    ) {
      problems.push(`${where}: scales ${target.kind}/${target.name}, which is not here`);
    }
  }
}

for (const problem of problems) process.stderr.write(`${problem}\n`);
process.stdout.write(`k8s manifests: ${objects.length} objects, ${problems.length} problems\n`);
process.exitCode = problems.length === 0 ? 0 : 1;
