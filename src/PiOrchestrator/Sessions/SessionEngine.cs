using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using PiOrchestrator.Capture;
using PiOrchestrator.Doors;
using PiOrchestrator.Hosting;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

public enum DoorState { Unknown, Open, Closed }

/// <summary>What the status page shows of a container right now.</summary>
public sealed record ContainerSnapshot(string ContainerId, DoorState Door, DateTimeOffset? DoorSince, string? CurrentSessionId, string? LastSessionId)
{
    /// <summary>Set while door events for the container arrive faster than Doors:FloodEventsPerMinute.</summary>
    public DoorEventFlood? Flood { get; init; }
}

public sealed record DoorEventFlood(DateTimeOffset Since, long Events, int LimitPerMinute);

/// <summary>
/// The session state machine. One loop owns all state: door events, finished captures and close timers
/// arrive as inputs, so no two of them ever race. The camera request for BEFORE_OPEN is started before any
/// disk write, so nothing sits between the door event and the picture.
/// </summary>
public sealed partial class SessionEngine : BackgroundService, IDoorEventSink
{
    private abstract record Input;
    private sealed record DoorInput(DoorEvent Event) : Input;
    private sealed record CaptureDone(string SessionId, CaptureTag Tag) : Input;
    private sealed record AfterCloseDue(string SessionId, int Generation) : Input;
    private sealed record Tick : Input;
    private sealed record ManualCapture(ContainerOptions Container, IdempotencyRecord? Key, Actor? By, TaskCompletionSource<ManualCaptureAnswer> Result) : Input;
    private sealed record OpenInspection(InspectionRequest Request, TaskCompletionSource<SessionAnswer> Result) : Input;
    private sealed record EndSession(EndRequest Request, TaskCompletionSource<SessionAnswer> Result) : Input;

    private enum Phase { Open, Closing, Finishing }

    private sealed class ActiveSession(string id, ContainerOptions container)
    {
        public string Id { get; } = id;
        public ContainerOptions Container { get; } = container;
        public Phase Phase { get; set; }
        public ITimer? AfterCloseTimer { get; set; }
        public int Generation { get; set; }
        public int CapturesInFlight { get; set; }
        public bool AfterCloseDone { get; set; }
        public DateTimeOffset OpenedAt { get; set; }
        /// <summary>When the door opened on the monotonic clock: the door-left-open limit ignores wall-clock steps.</summary>
        public long OpenedTimestamp { get; set; }
        public bool LeftOpenFlagged { get; set; }
        /// <summary>Opened by a person (an inspection), not by the door: it is not "left open" while the door is not seen open.</summary>
        public bool Inspection { get; init; }
        /// <summary>Requests to end it, answered when it completes.</summary>
        public List<TaskCompletionSource<SessionAnswer>> EndWaiters { get; } = [];
        /// <summary>The timelapse while the door is open and the container takes frames.</summary>
        public Timelapse? Frames { get; set; }
        /// <summary>The number of the last DURING_OPEN frame stored.</summary>
        public int FramesStored { get; set; }
        /// <summary>A test capture's photo while it is being taken, for a repeat of its Idempotency-Key.</summary>
        public Task<EvidenceRecord>? ManualCapture { get; set; }
    }

    private sealed class ContainerState(ContainerOptions config, DoorEventRate rate)
    {
        public ContainerOptions Config { get; } = config;
        public DoorEventRate Rate { get; } = rate;
        public ActiveSession? Current { get; set; }
        public DoorState Door { get; set; }
        public DateTimeOffset? DoorSince { get; set; }
        public string? LastSessionId { get; set; }
        /// <summary>The last door state a source reported and when (for the merge window).</summary>
        public DoorState LastReported { get; set; }
        /// <summary>When that report was handled, on the monotonic clock (the merge window is a duration).</summary>
        public long LastReportedTimestamp { get; set; }
        /// <summary>The newest event timestamp each source supplied (to spot late, out-of-order events).</summary>
        public Dictionary<DoorEventSource, DateTimeOffset> LastTimestamps { get; } = [];
    }

    private readonly Channel<Input> _inputs = Channel.CreateUnbounded<Input>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, ContainerState> _containers;
    private readonly Dictionary<string, ActiveSession> _sessions = new(StringComparer.Ordinal);
    // Door event ids of the last SeenWindow: a redelivery or a late duplicate is caught without a disk read before
    // BEFORE_OPEN, and memory follows at most a week of doors (Doors:RememberedEventIds at most), not the agent's whole life.
    private readonly RecentIds<(string ContainerId, string EventId)> _seenEventIds;
    private readonly WallClockWatch _clock;
    private readonly List<Task> _captures = [];
    private readonly ConcurrentDictionary<string, ContainerSnapshot> _snapshots = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _captureAbort = new();
    private readonly CaptureService _capture;
    private readonly EvidenceStore _store;
    private readonly CaptureOptions _options;
    private readonly LoopHeartbeats _heartbeats;
    private static readonly TimeSpan TickEvery = TimeSpan.FromSeconds(5);
    /// <summary>The longest ids are remembered in memory; the store answers beyond.</summary>
    public static readonly TimeSpan MaxSeenWindow = TimeSpan.FromDays(7);
    /// <summary>
    /// How long ids are remembered in memory (what a restart reloads from the store): a week, or the metadata
    /// retention when shorter, since the store forgets an id with its rows and memory must not outlive the store.
    /// </summary>
    public TimeSpan SeenWindow { get; }
    /// <summary>How far an event's own timestamp may be ahead of its arrival (clock drift, not a glitch).</summary>
    public static readonly TimeSpan FutureStampTolerance = TimeSpan.FromMinutes(5);
    private readonly TimeSpan _mergeWindow;
    private readonly TimeSpan _maxOpen;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionEngine> _log;
    private readonly LogThrottle _throttle;
    private ITimer? _tick;

    public SessionEngine(CaptureService capture, EvidenceStore store, IOptions<SiteOptions> site, IOptions<CaptureOptions> options,
        IOptions<DoorsOptions> doors, IOptions<SessionsOptions> sessions, IOptions<StorageOptions> storage, LoopHeartbeats heartbeats, TimeProvider time,
        ILogger<SessionEngine> log)
    {
        SeenWindow = SeenWindowFor(storage.Value.MetadataRetentionDays);
        _heartbeats = heartbeats;
        _mergeWindow = TimeSpan.FromMilliseconds(doors.Value.MergeWindowMs);
        _maxOpen = TimeSpan.FromMinutes(sessions.Value.MaxOpenMinutes);
        _capture = capture;
        _store = store;
        _options = options.Value;
        _time = time;
        _log = log;
        _throttle = new LogThrottle(time, TimeSpan.FromMinutes(1));
        _seenEventIds = new RecentIds<(string, string)>(time, SeenWindow, doors.Value.RememberedEventIds);
        _clock = new WallClockWatch(time, log);
        _containers = site.Value.Containers.ToDictionary(c => c.Id, c => new ContainerState(c, new DoorEventRate(time, doors.Value.FloodEventsPerMinute)),
            StringComparer.Ordinal);
        foreach (var c in _containers.Values) Publish(c);
    }

    public static TimeSpan SeenWindowFor(double metadataRetentionDays) =>
        TimeSpan.FromDays(Math.Min(MaxSeenWindow.TotalDays, metadataRetentionDays));

    public const string HeartbeatName = "session-engine";

    /// <summary>When the loop last handled an input (a tick comes every 5 s).</summary>
    public DateTimeOffset LastTurn { get; private set; }

    public ContainerSnapshot? Snapshot(string containerId) => _snapshots.GetValueOrDefault(containerId);

    public bool Post(DoorEvent doorEvent)
    {
        // A close stops the container's frames before it waits in the queue: no frame is stored after the door closed.
        if (!doorEvent.IsOpening && _frameRuns.TryGetValue(doorEvent.ContainerId, out var frames)) frames.Stop();
        return _inputs.Writer.TryWrite(new DoorInput(doorEvent));
    }

    /// <summary>A technician's test capture's session: never a container's current one, closed once its picture is stored.</summary>
    public const string ManualSessionPrefix = "manual-";

    /// <summary>
    /// A MANUAL capture in a session of its own, run by the loop like any other, so a crash mid-capture is recovered like
    /// any other. With <paramref name="key"/> (its SessionId is filled in here), a key already stored answers with the
    /// capture it made.
    /// </summary>
    public Task<ManualCaptureAnswer> CaptureManualAsync(ContainerOptions container, IdempotencyRecord? key = null, Actor? by = null)
    {
        var result = new TaskCompletionSource<ManualCaptureAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_inputs.Writer.TryWrite(new ManualCapture(container, key, by, result))) result.TrySetCanceled();
        return result.Task;
    }

    /// <summary>Opens an inspection session on the loop (so it cannot race a door event): BEFORE_OPEN at once, then it follows the door.</summary>
    public Task<SessionAnswer> OpenInspectionAsync(InspectionRequest request) => Ask<SessionAnswer>(r => new OpenInspection(request, r));

    /// <summary>Ends a session on request and answers once it is complete (its AFTER_CLOSE taken unless asked not to).</summary>
    public Task<SessionAnswer> EndSessionAsync(EndRequest request) => Ask<SessionAnswer>(r => new EndSession(request, r));

    private Task<T> Ask<T>(Func<TaskCompletionSource<T>, Input> input)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_inputs.Writer.TryWrite(input(result))) result.TrySetCanceled();
        return result.Task;
    }

    /// <summary>Raised on the engine's loop when a door has been open too long (once per session).</summary>
    public event Action<DoorAlert>? Alert;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _tick = _time.CreateTimer(_ => _inputs.Writer.TryWrite(new Tick()), null, TickEvery, TickEvery);
        _heartbeats.Beat(HeartbeatName, TickEvery);
        try
        {
            await foreach (var input in _inputs.Reader.ReadAllAsync(stoppingToken))
            {
                LastTurn = _time.GetUtcNow();
                _heartbeats.Beat(HeartbeatName, TickEvery);
                try
                {
                    Handle(input);
                }
                catch (Exception ex)
                {
                    _log.LogError(ex, "Session engine failed to handle {Input}", input.GetType().Name);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Unfinished sessions are resumed before the host goes on to serve.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        LastTurn = _time.GetUtcNow();
        Recover();
        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _tick?.Dispose();
        // Test captures asked for after the loop's last turn are never taken: their callers hear so.
        while (_inputs.Reader.TryRead(out var left))
        {
            if (left is ManualCapture manual) manual.Result.TrySetCanceled();
            else if (left is OpenInspection open) open.Result.TrySetCanceled();
            else if (left is EndSession end) end.Result.TrySetCanceled();
        }
        foreach (var s in _sessions.Values)
        {
            s.AfterCloseTimer?.Dispose();
            // A frame is never worth a wait at shutdown: it is cut and leaves no row.
            StopFrames(s);
            // An end asked for is recorded; the session completes when the agent is back.
            foreach (var waiter in s.EndWaiters) waiter.TrySetCanceled();
        }
        // Captures in flight finish (each has its own deadline) so their rows are written; sessions resume at next start.
        var pending = _captures.Where(t => !t.IsCompleted).ToArray();
        if (pending.Length > 0)
        {
            _log.LogInformation("Waiting for {Count} capture(s) in flight before stopping", pending.Length);
            try
            {
                await Task.WhenAll(pending).WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Out of time: the grabs are cut and recorded interrupted, which takes a moment; those rows must be
                // written before the store closes behind this service.
                _captureAbort.Cancel();
                try
                {
                    await Task.WhenAll(pending).WaitAsync(AbortGrace);
                }
                catch (TimeoutException)
                {
                    _log.LogError("{Count} capture(s) still not recorded {Seconds} s after being cut; they are recorded interrupted at next start",
                        pending.Count(t => !t.IsCompleted), AbortGrace.TotalSeconds);
                }
            }
        }
    }

    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(5);

    public override void Dispose()
    {
        _tick?.Dispose();
        _captureAbort.Dispose();
        base.Dispose();
    }

    private void Handle(Input input)
    {
        switch (input)
        {
            case DoorInput door:
                try
                {
                    OnDoorEvent(door.Event);
                }
                finally
                {
                    if (_containers.TryGetValue(door.Event.ContainerId, out var container)) ResumeFramesAfterDroppedClose(container);
                }
                // Recorded or deliberately dropped: only now may the source forget it (an MQTT event's PUBACK). An
                // exception above (the store refused the write) leaves it unacknowledged, for the broker to send again.
                door.Event.Ack?.Acknowledge();
                break;
            case AfterCloseDue due:
                OnAfterCloseDue(due);
                break;
            case CaptureDone done:
                OnCaptureDone(done);
                break;
            case ManualCapture manual:
                Answering(manual.Result, () => OnManualCapture(manual));
                break;
            case OpenInspection open:
                Answering(open.Result, () => OnOpenInspection(open));
                break;
            case EndSession end:
                Answering(end.Result, () => OnEndSession(end));
                break;
            case FrameDue due:
                OnFrameDue(due);
                break;
            case FrameDone frame:
                OnFrameDone(frame);
                break;
            case Tick:
                _captures.RemoveAll(t => t.IsCompleted);
                _seenEventIds.Prune();
                foreach (var c in _containers.Values) CheckRate(c, c.Rate.Roll);
                CheckDoorsLeftOpen();
                _clock.Check();
                break;
        }
    }

    /// <summary>
    /// The monotonic timestamp of a moment the wall clock puts <paramref name="ago"/> back: the best a restart knows of
    /// a door opened before it. A moment in the future (a clock set back since) counts as now.
    /// </summary>
    private long TimestampAgo(TimeSpan ago)
    {
        var ticks = Math.Clamp(ago.Ticks, 0, TimeSpan.FromDays(3650).Ticks);
        return _time.GetTimestamp() - (long)(ticks / (double)TimeSpan.TicksPerSecond * _time.TimestampFrequency);
    }

    private ActiveSession Track(ActiveSession session)
    {
        _sessions[session.Id] = session;
        return session;
    }
}
