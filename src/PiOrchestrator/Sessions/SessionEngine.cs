using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using PiOrchestrator.Capture;
using PiOrchestrator.Doors;
using PiOrchestrator.Evidence;
using PiOrchestrator.Site;
using PiOrchestrator.Systemd;

namespace PiOrchestrator.Sessions;

public enum DoorState { Unknown, Open, Closed }

/// <summary>What the status page shows of a container right now.</summary>
public sealed record ContainerSnapshot(string ContainerId, DoorState Door, DateTimeOffset? DoorSince, string? CurrentSessionId, string? LastSessionId);

/// <summary>
/// The session state machine. One loop owns all state: door events, finished captures and close timers
/// arrive as inputs, so no two of them ever race. The camera request for BEFORE_OPEN is started before any
/// disk write, so nothing sits between the door event and the picture.
/// </summary>
public sealed class SessionEngine : BackgroundService, IDoorEventSink
{
    private abstract record Input;
    private sealed record DoorInput(DoorEvent Event) : Input;
    private sealed record CaptureDone(string SessionId, CaptureTag Tag) : Input;
    private sealed record AfterCloseDue(string SessionId, int Generation) : Input;
    private sealed record Tick : Input;
    private sealed record ManualCapture(ContainerOptions Container, TaskCompletionSource<EvidenceRecord> Result) : Input;

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
    }

    private sealed class ContainerState(ContainerOptions config)
    {
        public ContainerOptions Config { get; } = config;
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
    // BEFORE_OPEN, and memory follows a week of doors, not the agent's whole life.
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
    /// <summary>How long ids are remembered in memory (what a restart reloads from the store); the store answers beyond.</summary>
    public static readonly TimeSpan SeenWindow = TimeSpan.FromDays(7);
    /// <summary>How far an event's own timestamp may be ahead of its arrival (clock drift, not a glitch).</summary>
    public static readonly TimeSpan FutureStampTolerance = TimeSpan.FromMinutes(5);
    private readonly TimeSpan _mergeWindow;
    private readonly TimeSpan _maxOpen;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionEngine> _log;
    private readonly LogThrottle _throttle;
    private ITimer? _tick;

    public SessionEngine(CaptureService capture, EvidenceStore store, IOptions<SiteOptions> site, IOptions<CaptureOptions> options,
        IOptions<DoorsOptions> doors, IOptions<SessionsOptions> sessions, LoopHeartbeats heartbeats, TimeProvider time, ILogger<SessionEngine> log)
    {
        _heartbeats = heartbeats;
        _mergeWindow = TimeSpan.FromMilliseconds(doors.Value.MergeWindowMs);
        _maxOpen = TimeSpan.FromMinutes(sessions.Value.MaxOpenMinutes);
        _capture = capture;
        _store = store;
        _options = options.Value;
        _time = time;
        _log = log;
        _throttle = new LogThrottle(time, TimeSpan.FromMinutes(1));
        _seenEventIds = new RecentIds<(string, string)>(time, SeenWindow);
        _clock = new WallClockWatch(time, log);
        _containers = site.Value.Containers.ToDictionary(c => c.Id, c => new ContainerState(c), StringComparer.Ordinal);
        foreach (var c in _containers.Values) Publish(c);
    }

    public const string HeartbeatName = "session-engine";

    /// <summary>When the loop last handled an input (a tick comes every 5 s).</summary>
    public DateTimeOffset LastTurn { get; private set; }

    public ContainerSnapshot? Snapshot(string containerId) => _snapshots.GetValueOrDefault(containerId);

    public bool Post(DoorEvent doorEvent) => _inputs.Writer.TryWrite(new DoorInput(doorEvent));

    /// <summary>A technician's test capture's session: never a container's current one, closed once its picture is stored.</summary>
    public const string ManualSessionPrefix = "manual-";

    /// <summary>A MANUAL capture in a session of its own, run by the loop like any other, so a crash mid-capture is recovered like any other.</summary>
    public Task<EvidenceRecord> CaptureManualAsync(ContainerOptions container)
    {
        var result = new TaskCompletionSource<EvidenceRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_inputs.Writer.TryWrite(new ManualCapture(container, result))) result.TrySetCanceled();
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
            if (left is ManualCapture manual) manual.Result.TrySetCanceled();
        foreach (var s in _sessions.Values) s.AfterCloseTimer?.Dispose();
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
                OnDoorEvent(door.Event);
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
                OnManualCapture(manual);
                break;
            case Tick:
                _captures.RemoveAll(t => t.IsCompleted);
                _seenEventIds.Prune();
                CheckDoorsLeftOpen();
                _clock.Check();
                break;
        }
    }

    private void OnDoorEvent(DoorEvent e)
    {
        if (!_containers.TryGetValue(e.ContainerId, out var container))
        {
            if (_throttle.ShouldLog("unknown:" + e.ContainerId, out _))
                _log.LogWarning("Door event for unknown container {ContainerId} from {Source} dropped", DoorEventParser.Printable(e.ContainerId), e.Source);
            Metrics.AgentMetrics.DoorEvent(e.Source, "unknown_container");
            return;
        }
        if (e.EventId is { } eventId && (_seenEventIds.Contains((e.ContainerId, eventId)) || IsOldAndStored(e, eventId)))
        {
            _log.LogInformation("Duplicate door event {EventId} for {ContainerId} ignored", eventId, e.ContainerId);
            Metrics.AgentMetrics.DoorEvent(e.Source, "duplicate");
            return;
        }
        var remembered = false;
        var accepted = Accept(container, e);
        Metrics.AgentMetrics.DoorEvent(e.Source, accepted ? "accepted" : "dropped");
        if (accepted)
        {
            remembered = e.IsOpening ? OnOpening(container, e) : OnClosed(container, e);
            Publish(container);
        }
        // An event that moved a session was remembered with it; any other is remembered on its own, after the
        // capture has started: nothing on disk comes before the camera request.
        if (e.EventId is not null && !remembered)
            _store.RecordDoorEvent(e.ContainerId, e.EventId, e.ReceivedAt);
        // Seen once its record is committed: a write that failed leaves the id free for the broker's redelivery.
        if (e.EventId is not null) _seenEventIds.Add((e.ContainerId, e.EventId));
    }

    /// <summary>
    /// An event its sender stamped before the memory's window (a message a broker kept for a long time) may be one
    /// already handled and forgotten: the store, which keeps ids for the metadata retention, decides.
    /// </summary>
    private bool IsOldAndStored(DoorEvent e, string eventId) =>
        e.Timestamp is { } stamp && e.ReceivedAt - stamp > SeenWindow && _store.HasDoorEvent(e.ContainerId, eventId);

    /// <summary>
    /// A problem that may come with every event (a sender that never reports opening): a warning once a minute per
    /// kind and container, every other occurrence at information, so each session stays traceable in the log.
    /// </summary>
    private LogLevel Level(string kind) => _throttle.ShouldLog(kind, out _) ? LogLevel.Warning : LogLevel.Information;

    /// <summary>The event's id, to be written in the same transaction as the session change it causes.</summary>
    private static DoorEventId? Cause(DoorEvent e) => e.EventId is { } id ? new DoorEventId(e.ContainerId, id, e.ReceivedAt) : null;

    /// <summary>
    /// Drops what a real site sends twice: an event older than one its source already sent (late or out of order),
    /// and the same door state reported again within the merge window (MQTT and GPIO seeing one door).
    /// </summary>
    private bool Accept(ContainerState container, DoorEvent e)
    {
        if (e.Timestamp is { } stamp && container.LastTimestamps.TryGetValue(e.Source, out var newest) && stamp < newest)
        {
            _log.Log(Level("late:" + container.Config.Id + ":" + e.Source), "Late {Event} for {ContainerId} from {Source} dropped: stamped {Stamp:O}, after a newer event stamped {Newest:O}",
                DoorEvent.Word(e.Kind), container.Config.Id, e.Source, stamp, newest);
            return false;
        }
        if (e.Timestamp is { } accepted)
        {
            // A stamp far ahead of its arrival is a clock glitch: trusted as the newest, it would make every later
            // event look late. The event still counts, ordered by when it arrived.
            if (accepted - e.ReceivedAt > FutureStampTolerance)
            {
                if (_throttle.ShouldLog("future:" + container.Config.Id + ":" + e.Source, out _))
                    _log.LogWarning("{Event} for {ContainerId} from {Source} is stamped {Stamp:O}, {Ahead} ahead of the time it arrived: the sender's clock is wrong; its stamp is ignored for ordering",
                        DoorEvent.Word(e.Kind), container.Config.Id, e.Source, accepted, accepted - e.ReceivedAt);
            }
            else
            {
                container.LastTimestamps[e.Source] = accepted;
            }
        }

        var reported = e.IsOpening ? DoorState.Open : DoorState.Closed;
        var sinceLastReport = _time.GetElapsedTime(container.LastReportedTimestamp);
        if (container.LastReported == reported && sinceLastReport < _mergeWindow)
        {
            _log.LogDebug("{Event} for {ContainerId} from {Source} merged with the same report {Ms:F0} ms earlier",
                DoorEvent.Word(e.Kind), container.Config.Id, e.Source, sinceLastReport.TotalMilliseconds);
            // open_requested then opened is one report for the session, but only opened says the door is open.
            if (e.Kind == DoorEventKind.Opened && container.Door != DoorState.Open)
            {
                SetDoor(container, DoorState.Open, e.ReceivedAt);
                Publish(container);
            }
            return false;
        }
        container.LastReported = reported;
        container.LastReportedTimestamp = _time.GetTimestamp();
        return true;
    }

    private void CheckDoorsLeftOpen()
    {
        var now = _time.GetUtcNow();
        foreach (var session in _sessions.Values)
        {
            var open = _time.GetElapsedTime(session.OpenedTimestamp);
            if (session.Phase != Phase.Open || session.LeftOpenFlagged || open < _maxOpen) continue;
            session.LeftOpenFlagged = true;
            _store.FlagDoorLeftOpen(session.Id, now);
            _log.LogWarning("Door of {ContainerId} open for {Minutes:F0} minutes (session {SessionId}): DOOR_LEFT_OPEN",
                session.Container.Id, open.TotalMinutes, session.Id);
            try
            {
                Alert?.Invoke(new DoorAlert("door_left_open", session.Container.Id, session.Id, session.OpenedAt, now));
            }
            catch (Exception ex)
            {
                _log.LogError(ex, "Publishing the door-left-open alert failed");
            }
        }
    }

    /// <summary>True when the event's id was written with the session.</summary>
    private bool OnOpening(ContainerState container, DoorEvent e)
    {
        if (e.Kind == DoorEventKind.Opened || container.Door == DoorState.Unknown)
            SetDoor(container, DoorState.Open, e.ReceivedAt);
        var current = container.Current;
        if (current is null)
        {
            if (!TryNewSessionId(container, e, out var sessionId)) return false;
            var session = Track(new ActiveSession(sessionId, container.Config) { Phase = Phase.Open, OpenedAt = e.ReceivedAt, OpenedTimestamp = _time.GetTimestamp() });
            container.Current = session;
            container.LastSessionId = sessionId;
            StartCapture(session, CaptureTag.BeforeOpen);
            _store.InsertSession(new SessionRecord
            {
                SessionId = sessionId,
                ContainerId = container.Config.Id,
                Phase = SessionPhase.Open,
                StartedAt = e.ReceivedAt,
                OpenedAt = e.ReceivedAt,
            }, Cause(e));
            _log.LogInformation("Session {SessionId} started for {ContainerId} by {Event} ({Source}); capturing BEFORE_OPEN",
                sessionId, container.Config.Id, DoorEvent.Word(e.Kind), e.Source);
            return true;
        }
        else if (current.Phase == Phase.Closing)
        {
            // Opened again while the door was settling: the cycle is not over, so the same session goes on.
            current.AfterCloseTimer?.Dispose();
            current.AfterCloseTimer = null;
            current.Generation++;
            current.Phase = Phase.Open;
            _store.UpdateSessionPhase(current.Id, SessionPhase.Open, null, null, Cause(e));
            _log.LogInformation("Door of {ContainerId} reopened before AFTER_CLOSE; session {SessionId} continues", container.Config.Id, current.Id);
            return true;
        }
        _log.LogDebug("{Event} for {ContainerId} while session {SessionId} is open: nothing to capture", DoorEvent.Word(e.Kind), container.Config.Id, current.Id);
        return false;
    }

    /// <summary>True when the event's id was written with the session.</summary>
    private bool OnClosed(ContainerState container, DoorEvent e)
    {
        SetDoor(container, DoorState.Closed, e.ReceivedAt);
        var current = container.Current;
        var due = e.ReceivedAt + TimeSpan.FromMilliseconds(_options.AfterCloseDelayMs);
        if (current is null)
        {
            if (!TryNewSessionId(container, e, out var sessionId)) return false;
            var session = Track(new ActiveSession(sessionId, container.Config) { Phase = Phase.Closing });
            container.Current = session;
            container.LastSessionId = sessionId;
            _store.InsertSession(new SessionRecord
            {
                SessionId = sessionId,
                ContainerId = container.Config.Id,
                Phase = SessionPhase.Closing,
                StartedAt = e.ReceivedAt,
                ClosedAt = e.ReceivedAt,
                AfterCloseDueAt = due,
                BeforeMissingReason = MissingReason.NoOpenEvent,
            }, Cause(e));
            ScheduleAfterClose(session, due);
            _log.Log(Level("no-open:" + container.Config.Id), "Door of {ContainerId} closed with no session in progress: session {SessionId} has no BEFORE_OPEN (NO_OPEN_EVENT)",
                container.Config.Id, sessionId);
            return true;
        }
        if (current.Phase == Phase.Open)
        {
            current.Phase = Phase.Closing;
            _store.UpdateSessionPhase(current.Id, SessionPhase.Closing, e.ReceivedAt, due, Cause(e));
            ScheduleAfterClose(current, due);
            _log.LogInformation("Door of {ContainerId} closed; AFTER_CLOSE for session {SessionId} in {DelayMs} ms", container.Config.Id, current.Id, _options.AfterCloseDelayMs);
            return true;
        }
        _log.LogDebug("closed for {ContainerId} while session {SessionId} is already closing: ignored", container.Config.Id, current.Id);
        return false;
    }

    private void OnAfterCloseDue(AfterCloseDue due)
    {
        if (!_sessions.TryGetValue(due.SessionId, out var session) || session.Phase != Phase.Closing || session.Generation != due.Generation)
            return;
        session.AfterCloseTimer?.Dispose();
        session.AfterCloseTimer = null;
        session.Phase = Phase.Finishing;
        // From here a new opening of the door is a new session.
        if (_containers.TryGetValue(session.Container.Id, out var container) && container.Current == session)
        {
            container.Current = null;
            Publish(container);
        }
        // On disk before the grab: a grab cut by a crash is recorded interrupted at restart, never taken late.
        _store.MarkAfterCloseStarted(session.Id);
        StartCapture(session, CaptureTag.AfterClose);
    }

    private void OnManualCapture(ManualCapture manual)
    {
        var now = _time.GetUtcNow();
        var sessionId = ManualSessionPrefix + Guid.CreateVersion7(now).ToString("N");
        // Finishing from the start: the door state and the container's current session are not touched.
        var session = Track(new ActiveSession(sessionId, manual.Container) { Phase = Phase.Finishing, AfterCloseDone = true, OpenedAt = now, OpenedTimestamp = _time.GetTimestamp() });
        _store.InsertSession(new SessionRecord { SessionId = sessionId, ContainerId = manual.Container.Id, Phase = SessionPhase.Open, StartedAt = now, OpenedAt = now });
        StartCapture(session, CaptureTag.Manual, manual.Result);
    }

    private void OnCaptureDone(CaptureDone done)
    {
        if (!_sessions.TryGetValue(done.SessionId, out var session)) return;
        session.CapturesInFlight--;
        if (done.Tag == CaptureTag.AfterClose) session.AfterCloseDone = true;
        if (session.Phase == Phase.Finishing && session.AfterCloseDone && session.CapturesInFlight == 0)
            Complete(session);
    }

    private void Complete(ActiveSession session)
    {
        var evidence = _store.GetEvidenceForSession(session.Id);
        var head = HashChain.Head(session.Id, evidence);
        _store.CompleteSession(session.Id, _time.GetUtcNow(), head);
        _sessions.Remove(session.Id);
        _log.LogInformation("Session {SessionId} of {ContainerId} complete: BEFORE_OPEN {Before}, AFTER_CLOSE {After}, chain {ChainHead}",
            session.Id, session.Container.Id, Outcome(evidence, CaptureTag.BeforeOpen), Outcome(evidence, CaptureTag.AfterClose), head[..16]);
    }

    private static string Outcome(List<EvidenceRecord> evidence, CaptureTag tag) =>
        evidence.LastOrDefault(e => e.Tag == tag && e.IsCaptured) is not null ? "captured"
        : evidence.LastOrDefault(e => e.Tag == tag) is { } failed ? $"failed ({failed.FailureReason})"
        : "missing";

    private void StartCapture(ActiveSession session, CaptureTag tag, TaskCompletionSource<EvidenceRecord>? result = null)
    {
        session.CapturesInFlight++;
        _captures.Add(RunCaptureAsync(session.Container, session.Id, tag, result));
    }

    private async Task RunCaptureAsync(ContainerOptions container, string sessionId, CaptureTag tag, TaskCompletionSource<EvidenceRecord>? result)
    {
        try
        {
            var record = await _capture.CaptureAsync(container, sessionId, tag, _captureAbort.Token);
            result?.TrySetResult(record);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "Capture {Tag} for session {SessionId} could not be stored", EvidenceNames.Of(tag), sessionId);
            result?.TrySetException(ex);
        }
        finally
        {
            _inputs.Writer.TryWrite(new CaptureDone(sessionId, tag));
        }
    }

    private void ScheduleAfterClose(ActiveSession session, DateTimeOffset due)
    {
        session.AfterCloseTimer?.Dispose();
        var generation = ++session.Generation;
        // A stored due time from a clock that was ahead (a Pi without RTC before NTP) must not delay AFTER_CLOSE.
        var wait = TimeSpan.FromTicks(Math.Clamp((due - _time.GetUtcNow()).Ticks, 0, TimeSpan.FromMilliseconds(_options.AfterCloseDelayMs).Ticks));
        session.AfterCloseTimer = _time.CreateTimer(
            _ => _inputs.Writer.TryWrite(new AfterCloseDue(session.Id, generation)), null, wait, Timeout.InfiniteTimeSpan);
    }

    private bool TryNewSessionId(ContainerState container, DoorEvent e, out string sessionId)
    {
        sessionId = e.SessionId ?? "sess-" + Guid.CreateVersion7(e.ReceivedAt).ToString("N");
        // A made id is unique by construction (UUIDv7: time and 74 random bits). A supplied one is checked in the
        // store, which holds every session it keeps (a session is inserted as the event that starts it is handled):
        // one primary-key read, only for access systems that name their sessions, and no set that grows with every
        // door cycle. Once retention has deleted a session, its id is free again.
        if (e.SessionId is null) return true;
        if (_store.GetSession(sessionId) is not null)
        {
            _log.Log(Level("reused:" + container.Config.Id), "{Event} for {ContainerId} names session {SessionId}, which already exists: ignored as a late duplicate",
                DoorEvent.Word(e.Kind), container.Config.Id, sessionId);
            return false;
        }
        return true;
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

    private static void SetDoor(ContainerState container, DoorState door, DateTimeOffset at)
    {
        if (container.Door == door) return;
        container.Door = door;
        container.DoorSince = at;
    }

    private void Publish(ContainerState c) =>
        _snapshots[c.Config.Id] = new ContainerSnapshot(c.Config.Id, c.Door, c.DoorSince, c.Current?.Id, c.LastSessionId);

    /// <summary>Resumes sessions a stop or crash left unfinished, and remembers recent event ids.</summary>
    private void Recover()
    {
        foreach (var (containerId, eventId) in _store.RecentDoorEvents(_time.GetUtcNow() - SeenWindow))
            _seenEventIds.Add((containerId, eventId));

        var unfinished = _store.UnfinishedSessions();
        foreach (var record in unfinished)
        {
            var evidence = _store.GetEvidenceForSession(record.SessionId);
            if (!_containers.TryGetValue(record.ContainerId, out var container))
            {
                _log.LogWarning("Session {SessionId} belongs to {ContainerId}, which is no longer configured: completed as it is", record.SessionId, record.ContainerId);
                _store.CompleteSession(record.SessionId, _time.GetUtcNow(), HashChain.Head(record.SessionId, evidence));
                continue;
            }
            if (record.SessionId.StartsWith(ManualSessionPrefix, StringComparison.Ordinal))
            {
                // A test capture cut by a stop or crash: recorded as such and closed, never resumed as the door's session.
                if (!evidence.Any(e => e.Tag == CaptureTag.Manual))
                    _capture.RecordFailure(container.Config, record.SessionId, CaptureTag.Manual, CaptureFailure.Interrupted);
                _store.CompleteSession(record.SessionId, _time.GetUtcNow(), HashChain.Head(record.SessionId, _store.GetEvidenceForSession(record.SessionId)));
                continue;
            }
            if (record.BeforeMissingReason is null && !evidence.Any(e => e.Tag == CaptureTag.BeforeOpen))
                _capture.RecordFailure(container.Config, record.SessionId, CaptureTag.BeforeOpen, CaptureFailure.Interrupted);

            var newer = unfinished.Any(o => o.ContainerId == record.ContainerId && o.StartedAt > record.StartedAt);
            var openedAt = record.OpenedAt ?? record.StartedAt;
            var session = Track(new ActiveSession(record.SessionId, container.Config)
            {
                OpenedAt = openedAt,
                OpenedTimestamp = TimestampAgo(_time.GetUtcNow() - openedAt),
                LeftOpenFlagged = record.DoorLeftOpenAt is not null,
            });
            container.LastSessionId = record.SessionId;
            if (evidence.Any(e => e.Tag == CaptureTag.AfterClose))
            {
                session.Phase = Phase.Finishing;
                session.AfterCloseDone = true;
                Complete(session);
            }
            else if (newer || record is { Phase: SessionPhase.Closing, AfterCloseDueAt: null })
            {
                // Either the door opened again after this cycle, or the AFTER_CLOSE grab was under way when the agent
                // stopped: an AFTER_CLOSE taken now would show the wrong moment.
                _capture.RecordFailure(container.Config, record.SessionId, CaptureTag.AfterClose, CaptureFailure.Interrupted);
                session.Phase = Phase.Finishing;
                session.AfterCloseDone = true;
                Complete(session);
            }
            else if (record.Phase == SessionPhase.Closing)
            {
                session.Phase = Phase.Closing;
                container.Current = session;
                SetDoor(container, DoorState.Closed, record.ClosedAt ?? record.StartedAt);
                ScheduleAfterClose(session, record.AfterCloseDueAt ?? _time.GetUtcNow());
                _log.LogInformation("Resuming session {SessionId} of {ContainerId}: AFTER_CLOSE pending", record.SessionId, record.ContainerId);
            }
            else
            {
                session.Phase = Phase.Open;
                container.Current = session;
                SetDoor(container, DoorState.Open, record.OpenedAt ?? record.StartedAt);
                _log.LogInformation("Resuming session {SessionId} of {ContainerId}: door open, waiting for closed", record.SessionId, record.ContainerId);
            }
            Publish(container);
        }
    }
}
