namespace PiOrchestrator.Capture;

/// <summary>
/// One camera, one capture at a time, and a door's photo first: a technician's test capture or a timelapse frame
/// never waits for the camera (it is refused while the camera is busy) and gives the camera up at once when a door
/// capture needs it, so neither a flood of test captures nor a running timelapse can delay a BEFORE_OPEN or AFTER_CLOSE.
/// </summary>
public sealed class CameraGate
{
    private readonly SemaphoreSlim _camera = new(1, 1);
    private CancellationTokenSource? _manual;

    public bool Busy => _camera.CurrentCount == 0;

    /// <summary>Waits for the camera, taking it from a test capture or timelapse frame in progress.</summary>
    public async Task<IDisposable> EnterForDoorAsync(CancellationToken cancellationToken)
    {
        try
        {
            Volatile.Read(ref _manual)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The test capture finished meanwhile.
        }
        await _camera.WaitAsync(cancellationToken);
        return new Release(this, null);
    }

    /// <summary>The camera for a test capture or a frame if it is free now, with a token cancelled when a door capture needs it.</summary>
    public bool TryEnterPreemptible(CancellationToken cancellationToken, out IDisposable lease, out CancellationToken preempted)
    {
        lease = null!;
        preempted = default;
        if (!_camera.Wait(0)) return false;
        var manual = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Volatile.Write(ref _manual, manual);
        lease = new Release(this, manual);
        preempted = manual.Token;
        return true;
    }

    private sealed class Release(CameraGate gate, CancellationTokenSource? manual) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            if (manual is not null)
            {
                Interlocked.CompareExchange(ref gate._manual, null, manual);
                manual.Dispose();
            }
            gate._camera.Release();
        }
    }
}
