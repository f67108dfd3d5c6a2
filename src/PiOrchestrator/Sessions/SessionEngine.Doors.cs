using PiOrchestrator.Doors;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

/// <summary>Door events: which are taken (duplicates, late, merged repeats), and how they open, move and close sessions.</summary>
public sealed partial class SessionEngine
{
    private void OnDoorEvent(DoorEvent e)
    {
        if (!_containers.TryGetValue(e.ContainerId, out var container))
        {
            if (_throttle.ShouldLog("unknown:" + e.ContainerId, out _))
                _log.LogWarning("Door event for unknown container {ContainerId} from {Source} dropped", DoorEventParser.Printable(e.ContainerId), e.Source);
            DoorMetrics.DoorEvent(e.Source, "unknown_container");
            return;
        }
        CheckRate(container, container.Rate.Count);
        if (e.EventId is { } eventId && (_seenEventIds.Contains((e.ContainerId, eventId)) || IsForgottenAndStored(e, eventId)))
        {
            _log.LogInformation("Duplicate door event {EventId} for {ContainerId} ignored", eventId, e.ContainerId);
            DoorMetrics.DoorEvent(e.Source, "duplicate");
            return;
        }
        var remembered = false;
        var accepted = Accept(container, e);
        if (accepted)
        {
            remembered = e.IsOpening ? OnOpening(container, e) : OnClosed(container, e);
            Publish(container);
        }
        // Counted after the camera request went out: nothing sits between the door event and the picture.
        DoorMetrics.DoorEvent(e.Source, accepted ? "accepted" : "dropped");
        // An event that moved a session was remembered with it; any other is remembered on its own, after the
        // capture has started: nothing on disk comes before the camera request.
        if (e.EventId is not null && !remembered)
            _store.RecordDoorEvent(e.ContainerId, e.EventId, e.ReceivedAt);
        // Seen once its record is committed: a write that failed leaves the id free for the broker's redelivery.
        if (e.EventId is not null) _seenEventIds.Add((e.ContainerId, e.EventId));
    }

    /// <summary>
    /// An event its sender stamped before the memory's window (a message a broker kept for a long time), or any event
    /// while a flood has pushed ids of the window out of memory, may be one already handled and forgotten: the store,
    /// which keeps ids for the metadata retention, decides.
    /// </summary>
    private bool IsForgottenAndStored(DoorEvent e, string eventId) =>
        (!_seenEventIds.Complete || e.Timestamp is { } stamp && e.ReceivedAt - stamp > SeenWindow) && _store.HasDoorEvent(e.ContainerId, eventId);

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
            if (session.Inspection && _containers[session.Container.Id].Door != DoorState.Open) continue;
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

    /// <summary>
    /// A new session on the container, open from <paramref name="openedAt"/>: tracked, the container's current one, and
    /// its BEFORE_OPEN request sent before anything is written (the camera is the slow part). The caller writes the
    /// returned row with what its cause adds.
    /// </summary>
    private SessionRecord BeginSession(ContainerState container, string sessionId, DateTimeOffset openedAt, bool inspection)
    {
        var session = Track(new ActiveSession(sessionId, container.Config)
        {
            Phase = Phase.Open, Inspection = inspection, OpenedAt = openedAt, OpenedTimestamp = _time.GetTimestamp(),
        });
        container.Current = session;
        container.LastSessionId = sessionId;
        StartCapture(session, CaptureTag.BeforeOpen);
        return new SessionRecord
        {
            SessionId = sessionId, ContainerId = container.Config.Id, Phase = SessionPhase.Open, StartedAt = openedAt, OpenedAt = openedAt,
        };
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
            _store.InsertSession(BeginSession(container, sessionId, e.ReceivedAt, inspection: false), Cause(e));
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
            StartFrames(current);
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
            StopFrames(current);
            current.Phase = Phase.Closing;
            _store.UpdateSessionPhase(current.Id, SessionPhase.Closing, e.ReceivedAt, due, Cause(e));
            ScheduleAfterClose(current, due);
            _log.LogInformation("Door of {ContainerId} closed; AFTER_CLOSE for session {SessionId} in {DelayMs} ms", container.Config.Id, current.Id, _options.AfterCloseDelayMs);
            return true;
        }
        _log.LogDebug("closed for {ContainerId} while session {SessionId} is already closing: ignored", container.Config.Id, current.Id);
        return false;
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

    private static void SetDoor(ContainerState container, DoorState door, DateTimeOffset at)
    {
        if (container.Door == door) return;
        container.Door = door;
        container.DoorSince = at;
    }

    /// <summary>
    /// Counts (or rolls) the container's event rate and says when a flood begins or ends: one warning per flood, never
    /// a line per event. The events themselves are all handled as usual: the rate alone cannot tell a real door's.
    /// </summary>
    private void CheckRate(ContainerState container, Action step)
    {
        var rate = container.Rate;
        var wasFlooded = rate.Flooded;
        step();
        if (rate.Flooded == wasFlooded)
        {
            // The flood's count on the status stays current.
            if (rate.Flooded) Publish(container);
            return;
        }
        if (rate.Flooded)
        {
            DoorMetrics.DoorEventFlood(container.Config.Id);
            _log.LogWarning("Door events for {ContainerId} arrive at more than {Limit} a minute (Doors:FloodEventsPerMinute): no door moves that fast, look for a faulty or hostile publisher. Each event is still handled; /api/v1/status flags the container until a minute passes at a normal rate",
                container.Config.Id, rate.LimitPerMinute);
        }
        else
        {
            _log.LogInformation("Door events for {ContainerId} back to a normal rate after a flood of {Events} events since {Since:O}",
                container.Config.Id, rate.FloodEvents, rate.FloodedSince);
        }
        Publish(container);
    }

    private void Publish(ContainerState c) =>
        _snapshots[c.Config.Id] = new ContainerSnapshot(c.Config.Id, c.Door, c.DoorSince, c.Current?.Id, c.LastSessionId)
        {
            Flood = c.Rate.Flooded ? new DoorEventFlood(c.Rate.FloodedSince!.Value, c.Rate.FloodEvents, c.Rate.LimitPerMinute) : null,
        };
}
