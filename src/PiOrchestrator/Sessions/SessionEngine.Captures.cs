using PiOrchestrator.Jpeg;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

/// <summary>Captures and completion: BEFORE_OPEN/AFTER_CLOSE/MANUAL grabs, the after-close timer, completed sessions, recovery at start.</summary>
public sealed partial class SessionEngine
{
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
        if (manual.Key is { } key && _store.FindIdempotencyKey(key.Scope, key.Key) is { } stored)
        {
            RepeatManualCapture(manual, stored);
            return;
        }
        var now = _time.GetUtcNow();
        var sessionId = ManualSessionPrefix + Guid.CreateVersion7(now).ToString("N");
        // Finishing from the start: the door state and the container's current session are not touched.
        var session = Track(new ActiveSession(sessionId, manual.Container) { Phase = Phase.Finishing, AfterCloseDone = true, OpenedAt = now, OpenedTimestamp = _time.GetTimestamp() });
        _store.InsertSession(new SessionRecord
        {
            SessionId = sessionId, ContainerId = manual.Container.Id, Phase = SessionPhase.Open, StartedAt = now, OpenedAt = now,
            BeforeMissingReason = MissingReason.NoDoorCycle, AfterMissingReason = MissingReason.NoDoorCycle,
        }, idempotencyKey: manual.Key is { } k ? k with { SessionId = sessionId, CreatedAt = now } : null,
            audit: manual.By is { } by ? new AuditEntry(now, by.Name, by.Address, AuditActions.Capture, manual.Container.Id, sessionId) : null);
        var capture = new TaskCompletionSource<EvidenceRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.ManualCapture = capture.Task;
        StartCapture(session, CaptureTag.Manual, capture);
        Forward(capture.Task, manual.Result, created: true);
    }

    /// <summary>The capture a stored key made: still being taken (wait for it) or stored (a failed row if a stop cut it).</summary>
    private void RepeatManualCapture(ManualCapture manual, IdempotencyRecord stored)
    {
        if (_sessions.TryGetValue(stored.SessionId, out var running) && running.ManualCapture is { } inFlight)
        {
            Forward(inFlight, manual.Result, created: false);
            return;
        }
        if (_store.GetEvidenceForSession(stored.SessionId).LastOrDefault(e => e.Tag == CaptureTag.Manual) is { } row)
            manual.Result.TrySetResult(new ManualCaptureAnswer(row, Created: false));
        else
            manual.Result.TrySetException(new InvalidOperationException($"the capture of Idempotency-Key session {stored.SessionId} is not stored"));
    }

    private static void Forward(Task<EvidenceRecord> capture, TaskCompletionSource<ManualCaptureAnswer> result, bool created) =>
        capture.ContinueWith(done =>
        {
            if (done.IsCompletedSuccessfully) result.TrySetResult(new ManualCaptureAnswer(done.Result, created));
            else if (done.IsCanceled) result.TrySetCanceled();
            else result.TrySetException(done.Exception!.InnerExceptions);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private void OnCaptureDone(CaptureDone done)
    {
        if (!_sessions.TryGetValue(done.SessionId, out var session)) return;
        session.CapturesInFlight--;
        if (done.Tag == CaptureTag.AfterClose) session.AfterCloseDone = true;
        // Frames come after BEFORE_OPEN, never before or alongside it.
        if (done.Tag == CaptureTag.BeforeOpen) StartFrames(session);
        if (session.Phase == Phase.Finishing && session.AfterCloseDone && session.CapturesInFlight == 0)
            Complete(session);
    }

    private void Complete(ActiveSession session)
    {
        var evidence = _store.GetEvidenceForSession(session.Id);
        var head = HashChain.Head(session.Id, evidence);
        _store.CompleteSession(session.Id, _time.GetUtcNow(), head);
        _sessions.Remove(session.Id);
        if (session.EndWaiters.Count > 0)
        {
            var ended = _store.GetSession(session.Id);
            foreach (var waiter in session.EndWaiters) waiter.TrySetResult(new SessionAnswer(RequestOutcome.Ended, ended));
        }
        _log.LogInformation("Session {SessionId} of {ContainerId} complete: BEFORE_OPEN {Before}, AFTER_CLOSE {After}, {Frames} frame(s), chain {ChainHead}",
            session.Id, session.Container.Id, Outcome(evidence, CaptureTag.BeforeOpen), Outcome(evidence, CaptureTag.AfterClose),
            evidence.Count(e => e.Tag == CaptureTag.DuringOpen && e.IsCaptured), head[..16]);
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

    /// <summary>Resumes sessions a stop or crash left unfinished, and remembers recent event ids.</summary>
    private void Recover()
    {
        // The newest that fit in memory, added oldest first so that they are forgotten in arrival order.
        var recent = _store.RecentDoorEvents(_time.GetUtcNow() - SeenWindow, _seenEventIds.Capacity + 1);
        if (recent.Count > _seenEventIds.Capacity)
        {
            recent.RemoveAt(recent.Count - 1);
            _seenEventIds.MarkIncomplete();
        }
        for (var i = recent.Count - 1; i >= 0; i--)
            _seenEventIds.Add(recent[i]);

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
                Inspection = record.OpenedBy is not null,
                OpenedAt = openedAt,
                OpenedTimestamp = TimestampAgo(_time.GetUtcNow() - openedAt),
                LeftOpenFlagged = record.DoorLeftOpenAt is not null,
                FramesStored = FramesStoredIn(evidence),
            });
            container.LastSessionId = record.SessionId;
            if (evidence.Any(e => e.Tag == CaptureTag.AfterClose))
            {
                session.Phase = Phase.Finishing;
                session.AfterCloseDone = true;
                Complete(session);
            }
            else if (record.AfterMissingReason is not null)
            {
                // Ended on request without AFTER_CLOSE; the stop came before it completed.
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
                // An inspection's session says nothing of the door.
                if (!session.Inspection) SetDoor(container, DoorState.Open, record.OpenedAt ?? record.StartedAt);
                StartFrames(session);
                _log.LogInformation("Resuming session {SessionId} of {ContainerId}: door open, waiting for closed", record.SessionId, record.ContainerId);
            }
            Publish(container);
        }
    }
}
