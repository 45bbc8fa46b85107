/**
 * What the leader shows of each pipeline in Kubernetes (issue 17): a SwitchyardPipeline object
 * per pipeline whose status reads like `switchyard status`, an Event per switch and per refusal
 * on that object, and a Lease naming the leader. Informational: etcd stays the source of truth
 * for routes and fencing (ADR 0016); a failure here never holds a switch.
 */
export interface PipelineStatusDoc {
  readonly pipeline: string;
  readonly tier: string;
  readonly activeChain: string;
  readonly activeRoom: string;
  readonly epoch: number;
  /** The verdict's state and rule (e.g. SERVING/healthy, HELD/no-quorum). */
  readonly state: string;
  readonly rule: string;
  /** Each room's Kafka health as the leader judges it, "room-a=OK,room-b=DOWN". */
  readonly health: string;
  readonly reason: string;
  /** The last switch: when (RFC 3339) and why. */
  readonly lastSwitchAt?: string;
  readonly lastSwitchReason?: string;
  /** What a failover now would lose, in one phrase. */
  readonly dataEstimate?: string;
  readonly observedBy: string;
}

export interface PipelineEvent {
  readonly pipeline: string;
  readonly type: 'Normal' | 'Warning';
  /** CamelCase, for grep: Switched, SwitchoverRefused, FailoverHeld. */
  readonly reason: string;
  /** What the controller did or would not do: Switch, Refuse, Hold. */
  readonly action: string;
  readonly note: string;
  /** Epoch ms. */
  readonly at: number;
  /**
   * Names the Event once for every leader (e.g. "e2-switched"): a second create of it is taken as
   * done, so a successor reporting a switch its predecessor reported adds nothing. Absent: unique.
   */
  readonly key?: string;
}

export interface ClusterState {
  /** Creates the pipeline objects that are missing and writes the status of those whose status changed. */
  publish(statuses: readonly PipelineStatusDoc[]): Promise<void>;
  event(e: PipelineEvent): Promise<void>;
  /** Names `identity` as the leader in the Lease (created if missing), renewed now. */
  lead(identity: string, durationSeconds: number, since: number): Promise<void>;
  /** Forgets what was written: the next publish writes every status again (and recreates deleted objects). */
  forget(): void;
}
