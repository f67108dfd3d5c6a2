using System.Collections.Concurrent;
using PiOrchestrator.Capture;
using PiOrchestrator.Site;
using PiOrchestrator.Store;

namespace PiOrchestrator.Sessions;

/// <summary>
/// DURING_OPEN frames: from BEFORE_OPEN's end until the door closes (or the session is ended), one frame per interval
/// (<see cref="TimelapseSchedule"/>), one at a time per session, each on a free camera only.
/// </summary>
public sealed partial class SessionEngine
{
    private sealed record FrameDue(string SessionId, FrameRun Run) : Input;
    private sealed record FrameDone(string SessionId, FrameRun Run, string ContainerId, int Sequence, FrameOutcome Outcome) : Input;

    /// <summary>Each container's running timelapse, for <see cref="Post"/> to stop from the door source's thread.</summary>
    private readonly ConcurrentDictionary<string, FrameRun> _frameRuns = new(StringComparer.Ordinal);

    /// <summary>One open stretch of a session's door: its schedule, its stop switch, the frame under way.</summary>
    private sealed class Timelapse(TimelapseSchedule schedule)
    {
        public TimelapseSchedule Schedule { get; } = schedule;
        public FrameRun Run { get; } = new();
        public ITimer? Timer { get; set; }
        public bool InFlight { get; set; }
        /// <summary>When the last frame was asked for, on the monotonic clock: the interval runs from start to start.</summary>
        public long LastStart { get; set; }
    }

    /// <summary>Starts the session's frames if its container takes any; the first comes one interval from now.</summary>
    private void StartFrames(ActiveSession session)
    {
        if (session.Frames is not null || session.Phase != Phase.Open || TimelapseSchedule.For(_options, session.Container) is not { } schedule) return;
        session.Frames = new Timelapse(schedule) { LastStart = _time.GetTimestamp() };
        _frameRuns[session.Container.Id] = session.Frames.Run;
        ScheduleFrame(session, schedule.WaitAfter(session.FramesStored));
    }

    /// <summary>No frame is asked for or stored from here on; one under way is cut.</summary>
    private void StopFrames(ActiveSession session)
    {
        if (session.Frames is not { } frames) return;
        session.Frames = null;
        _frameRuns.TryRemove(new KeyValuePair<string, FrameRun>(session.Container.Id, frames.Run));
        frames.Timer?.Dispose();
        frames.Run.Stop();
        if (!frames.InFlight) frames.Run.Dispose();
    }

    private void ScheduleFrame(ActiveSession session, TimeSpan wait)
    {
        var frames = session.Frames!;
        frames.Timer?.Dispose();
        var run = frames.Run;
        var id = session.Id;
        frames.Timer = _time.CreateTimer(_ => _inputs.Writer.TryWrite(new FrameDue(id, run)), null,
            wait < TimeSpan.Zero ? TimeSpan.Zero : wait, Timeout.InfiniteTimeSpan);
    }

    private void OnFrameDue(FrameDue due)
    {
        if (!_sessions.TryGetValue(due.SessionId, out var session) || session.Frames is not { } frames || frames.Run != due.Run
            || frames.InFlight || frames.Run.Stopped || session.Phase != Phase.Open)
            return;
        frames.InFlight = true;
        frames.LastStart = _time.GetTimestamp();
        session.CapturesInFlight++;
        _captures.Add(RunFrameAsync(session.Container, session.Id, session.FramesStored + 1, frames.Run));
    }

    private async Task RunFrameAsync(ContainerOptions container, string sessionId, int sequence, FrameRun run)
    {
        FrameOutcome outcome;
        try
        {
            outcome = await _capture.CaptureFrameAsync(container, sessionId, sequence, run, _captureAbort.Token);
        }
        catch (Exception ex)
        {
            outcome = new FrameOutcome(null, FrameOutcome.Failed, "error", ex.Message);
        }
        _inputs.Writer.TryWrite(new FrameDone(sessionId, run, container.Id, sequence, outcome));
    }

    private void OnFrameDone(FrameDone done)
    {
        var outcome = done.Outcome;
        CaptureMetrics.Frame(done.ContainerId, outcome.Outcome, outcome.Reason);
        if (outcome.Record is null)
        {
            // A frame missed now and then is expected (a door's photo took the camera); a camera that fails every frame
            // would write a line per interval: one line a minute per container and kind, with the count held back.
            var key = $"frame:{outcome.Outcome}:{done.ContainerId}";
            if (_throttle.ShouldLog(key, out var held))
                _log.Log(outcome.Outcome == FrameOutcome.Failed ? LogLevel.Warning : LogLevel.Information,
                    "Timelapse frame {Sequence} for {ContainerId} session {SessionId} {Outcome}: {Reason} ({Detail}){Held}",
                    done.Sequence, done.ContainerId, done.SessionId, outcome.Outcome, outcome.Reason, outcome.Detail,
                    held > 0 ? $"; {held} more since the last line" : "");
        }
        if (!_sessions.TryGetValue(done.SessionId, out var session))
        {
            done.Run.Dispose();
            return;
        }
        session.CapturesInFlight--;
        if (outcome.Record?.Sequence is { } stored) session.FramesStored = stored;
        if (session.Frames is { } frames && frames.Run == done.Run)
        {
            frames.InFlight = false;
            ScheduleFrame(session, frames.Schedule.WaitAfter(session.FramesStored) - _time.GetElapsedTime(frames.LastStart));
        }
        else
        {
            done.Run.Dispose();
        }
        if (session.Phase == Phase.Finishing && session.AfterCloseDone && session.CapturesInFlight == 0)
            Complete(session);
    }

    /// <summary>
    /// A close that stopped the frames as it arrived but was then dropped (a duplicate, a late event) leaves the door
    /// open: its frames start again.
    /// </summary>
    private void ResumeFramesAfterDroppedClose(ContainerState container)
    {
        if (container.Current is not { Phase: Phase.Open, Frames.Run.Stopped: true } session) return;
        StopFrames(session);
        StartFrames(session);
    }

    /// <summary>The highest frame number a session stored (frames are numbered on from it after a restart or a reopen).</summary>
    private static int FramesStoredIn(List<EvidenceRecord> evidence) =>
        evidence.Where(e => e.Tag == CaptureTag.DuringOpen).Select(e => e.Sequence ?? 0).DefaultIfEmpty(0).Max();
}
