package io.switchyard.flink;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One room's Flink: a JobManager and a TaskManager in this JVM, with the REST API (and web
 * submission, for warm starts) on 127.0.0.1, and, unless {@code --hot false}, the pipeline job
 * submitted at start. The process outlives its job: a FAILED job stays visible over REST until
 * the process is stopped. Arguments are --key value pairs:
 * <pre>
 *   --dir D --rest-port P --bootstrap H:P --in T --out T --room R --job-name N
 *   [--hot true] [--checkpoint-ms 2000] [--checkpoint-timeout-ms 10000]
 *   [--restart-attempts 3] [--restart-delay-ms 1000] [--metrics-refresh-ms 1000]
 * </pre>
 * Writes {@code D/job-id} once the job is submitted.
 */
public final class RoomCluster {
    private static final Logger LOG = LoggerFactory.getLogger(RoomCluster.class);

    private RoomCluster() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = PipelineJob.parse(argv);
        Path dir = Path.of(PipelineJob.need(args, "dir")).toAbsolutePath();
        Path flags = dir.resolve("flags");
        Path checkpoints = dir.resolve("checkpoints");
        Files.createDirectories(flags);
        Files.createDirectories(checkpoints);
        Files.createDirectories(dir.resolve("uploads"));
        args.putIfAbsent("flags", flags.toString());
        int port = Integer.parseInt(PipelineJob.need(args, "rest-port"));

        Configuration conf = new Configuration();
        conf.set(RestOptions.ADDRESS, "127.0.0.1");
        conf.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
        conf.set(RestOptions.PORT, port);
        conf.set(RestOptions.BIND_PORT, String.valueOf(port));
        conf.set(WebOptions.SUBMIT_ENABLE, true);
        conf.set(WebOptions.UPLOAD_DIR, dir.resolve("uploads").toString());
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, 4);
        conf.set(TaskManagerOptions.NETWORK_MEMORY_MIN, MemorySize.parse("16m"));
        conf.set(TaskManagerOptions.NETWORK_MEMORY_MAX, MemorySize.parse("16m"));
        conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("16m"));
        // Small buffers with debloating: a slow operator shows as back-pressure within seconds
        // even for small records (a default 32 KB buffer holds about a thousand of them).
        conf.set(TaskManagerOptions.MEMORY_SEGMENT_SIZE, MemorySize.parse("4kb"));
        conf.set(TaskManagerOptions.BUFFER_DEBLOAT_ENABLED, true);
        // The JobManager caches metrics it serves over REST (10 s by default): refresh every second here.
        conf.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofMillis(Long.parseLong(args.getOrDefault("metrics-refresh-ms", "1000"))));
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 3);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, Integer.parseInt(args.getOrDefault("restart-attempts", "3")));
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(Long.parseLong(args.getOrDefault("restart-delay-ms", "1000"))));

        ensureTopics(PipelineJob.need(args, "bootstrap"), List.of(PipelineJob.need(args, "in"), PipelineJob.need(args, "out")));

        MiniCluster cluster = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(conf)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(4)
                .build());
        cluster.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                cluster.close();
            } catch (Exception e) {
                // the process is going anyway
            }
        }, "room-cluster-stop"));
        LOG.info("room {}: Flink REST on http://127.0.0.1:{}", args.get("room"), port);

        if (Boolean.parseBoolean(args.getOrDefault("hot", "true"))) {
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            env.enableCheckpointing(Long.parseLong(args.getOrDefault("checkpoint-ms", "2000")), CheckpointingMode.EXACTLY_ONCE);
            env.getCheckpointConfig().setCheckpointTimeout(Long.parseLong(args.getOrDefault("checkpoint-timeout-ms", "10000")));
            // Checkpoint failures alone never fail the job: the controller judges their age.
            env.getCheckpointConfig().setTolerableCheckpointFailureNumber(Integer.MAX_VALUE);
            PipelineJob.define(env, args);
            StreamGraph graph = env.getStreamGraph();
            graph.setJobName(PipelineJob.need(args, "job-name"));
            JobID id = cluster.submitJob(graph.getJobGraph()).get().getJobID();
            Files.writeString(dir.resolve("job-id"), id.toHexString() + "\n", StandardCharsets.UTF_8);
            LOG.info("room {}: job {} submitted as {}", args.get("room"), args.get("job-name"), id);
        }
        new CountDownLatch(1).await();
    }

    /** Creates the job's topics if they are missing (3 partitions, one replica: the local stack). */
    static void ensureTopics(String bootstrap, List<String> topics) throws InterruptedException, ExecutionException {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            for (String t : topics) {
                try {
                    admin.createTopics(List.of(new NewTopic(t, 3, (short) 1))).all().get();
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) throw e;
                }
            }
        }
    }
}
