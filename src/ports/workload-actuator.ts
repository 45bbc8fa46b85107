/**
 * Kubernetes objects a switch changes besides routes (issue 17): a Service's selector, a
 * Deployment's replicas, a FlinkDeployment's job state. Every change is fenced by the pipeline's
 * route epoch, carried on the object as an annotation: an object already at this epoch with the
 * wanted value is left alone (a repeated step), one at this epoch or a later one with another value
 * is refused (a later switch owns it), so a new leader replaying a journal step changes nothing twice.
 */
export interface ObjectRef {
  readonly namespace: string;
  readonly name: string;
}

export type PatchOutcome =
  /** The value and the epoch annotation were written. */
  | { readonly kind: 'patched'; readonly resourceVersion: string }
  /** Already at this value under this epoch (a repeated step). */
  | { readonly kind: 'already' }
  /**
   * Left as it is: the object carries this epoch or a later one with another value, or the API
   * server will not take the change however often it is asked (absent, forbidden, invalid).
   */
  | { readonly kind: 'refused'; readonly reason: string };

export type FlinkJobState = 'running' | 'suspended';

export interface WorkloadActuator {
  /** Sets a Deployment's spec.replicas. */
  scale(ref: ObjectRef, replicas: number, epoch: number): Promise<PatchOutcome>;
  /** Sets a FlinkDeployment's spec.job.state (the Flink operator suspends or resumes the job). */
  flinkJobState(ref: ObjectRef, state: FlinkJobState, epoch: number): Promise<PatchOutcome>;
}
