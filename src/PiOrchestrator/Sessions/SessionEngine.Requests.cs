using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

/// <summary>Who made a request: the credential's holder (admin for Api:Key) and the client's address, for the audit.</summary>
public sealed record Actor(string Name, string? Address);

/// <summary>An inspection someone opens: the container, an optional id of theirs, their notes and name, the request's key.</summary>
public sealed record InspectionRequest(ContainerOptions Container, string? SessionId, string? Notes, string OpenedBy, IdempotencyRecord? Key, Actor By);

/// <summary>A request to end a session: who, why, and whether AFTER_CLOSE is taken as a door's close would.</summary>
public sealed record EndRequest(string SessionId, Actor By, string? Reason, bool AfterClose);

public enum RequestOutcome { Created, Repeated, Ended, AlreadyEnded, NotFound, ContainerBusy, SessionExists, KeyReused }

/// <summary>What became of a request: the session as stored now (the one in the way, for ContainerBusy).</summary>
public sealed record SessionAnswer(RequestOutcome Outcome, SessionRecord? Session);

public sealed record ManualCaptureAnswer(EvidenceRecord Capture, bool Created);

/// <summary>Sessions people open and end: an inspection follows the door like a door's session; an end completes a session as a close would.</summary>
public sealed partial class SessionEngine
{
    /// <summary>A request the loop failed to handle is answered with the failure, never left waiting.</summary>
    private static void Answering<T>(TaskCompletionSource<T> result, Action handle)
    {
        try
        {
            handle();
        }
        catch (Exception ex)
        {
            result.TrySetException(ex);
            throw;
        }
    }

    private void OnOpenInspection(OpenInspection open)
    {
        var request = open.Request;
        if (request.Key is { } key && _store.FindIdempotencyKey(key.Scope, key.Key) is { } stored)
        {
            open.Result.TrySetResult(stored.Fingerprint == key.Fingerprint
                ? new SessionAnswer(RequestOutcome.Repeated, _store.GetSession(stored.SessionId))
                : new SessionAnswer(RequestOutcome.KeyReused, null));
            return;
        }
        var container = _containers[request.Container.Id];
        if (container.Current is { } current)
        {
            open.Result.TrySetResult(new SessionAnswer(RequestOutcome.ContainerBusy, _store.GetSession(current.Id)));
            return;
        }
        var now = _time.GetUtcNow();
        var sessionId = request.SessionId ?? "sess-" + Guid.CreateVersion7(now).ToString("N");
        if (request.SessionId is not null && _store.GetSession(sessionId) is { } existing)
        {
            open.Result.TrySetResult(new SessionAnswer(RequestOutcome.SessionExists, existing));
            return;
        }
        // As for a door: the camera request goes out before anything is written.
        _store.InsertSession(BeginSession(container, sessionId, now, inspection: true) with { Notes = request.Notes, OpenedBy = request.OpenedBy },
            idempotencyKey: request.Key is { } k ? k with { SessionId = sessionId, CreatedAt = now } : null,
            audit: new AuditEntry(now, request.By.Name, request.By.Address, AuditActions.SessionOpen, container.Config.Id, sessionId, request.OpenedBy));
        Publish(container);
        _log.LogInformation("Inspection session {SessionId} opened for {ContainerId} by {OpenedBy}; capturing BEFORE_OPEN",
            sessionId, container.Config.Id, request.OpenedBy);
        open.Result.TrySetResult(new SessionAnswer(RequestOutcome.Created, _store.GetSession(sessionId)));
    }

    private void OnEndSession(EndSession end)
    {
        var request = end.Request;
        if (!_sessions.TryGetValue(request.SessionId, out var session))
        {
            // Complete already (by its door, or an earlier end): returned as it is, with no second chain head or stamp.
            var stored = _store.GetSession(request.SessionId);
            end.Result.TrySetResult(new SessionAnswer(stored is null ? RequestOutcome.NotFound : RequestOutcome.AlreadyEnded, stored));
            return;
        }
        var now = _time.GetUtcNow();
        _store.RecordEnd(session.Id, request.By.Name, now, request.Reason,
            new AuditEntry(now, request.By.Name, request.By.Address, AuditActions.SessionEnd, session.Container.Id, session.Id, request.Reason));
        session.EndWaiters.Add(end.Result);
        _containers.TryGetValue(session.Container.Id, out var container);
        // An ended session takes no more frames, whatever its door does.
        StopFrames(session);
        switch (session.Phase)
        {
            case Phase.Open when request.AfterClose:
            {
                // As the door's closed would: AFTER_CLOSE after the settling delay, then complete.
                var due = _time.GetUtcNow() + TimeSpan.FromMilliseconds(_options.AfterCloseDelayMs);
                session.Phase = Phase.Closing;
                _store.UpdateSessionPhase(session.Id, SessionPhase.Closing, _time.GetUtcNow(), due);
                ScheduleAfterClose(session, due);
                // Ended is ended: a door opening in the settling delay starts a new session rather than resuming this one.
                if (container?.Current == session)
                {
                    container.Current = null;
                    Publish(container);
                }
                break;
            }
            case Phase.Open or Phase.Closing when !request.AfterClose:
                session.AfterCloseTimer?.Dispose();
                session.AfterCloseTimer = null;
                session.Generation++;
                session.Phase = Phase.Finishing;
                session.AfterCloseDone = true;
                _store.SetAfterMissingReason(session.Id, MissingReason.EndedWithoutCapture);
                if (container?.Current == session)
                {
                    container.Current = null;
                    Publish(container);
                }
                if (session.CapturesInFlight == 0) Complete(session);
                break;
            default:
                // Closing with AFTER_CLOSE due, or finishing: it completes on its own; the answer waits for it.
                break;
        }
        _log.LogInformation("Session {SessionId} of {ContainerId} ended by {EndedBy}{Reason}", session.Id, session.Container.Id, request.By.Name,
            request.Reason is null ? "" : ": " + request.Reason);
    }
}
