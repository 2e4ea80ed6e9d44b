namespace Schedulers;

/// <summary>
/// The one place a scheduler instance keeps its immutable state, and the rule for sharing an instance between
/// threads: reads see a whole state, and a change replaces the state it was computed from in a single
/// compare-and-swap. A change that finds the state already replaced (another thread changed the same instance while
/// it ran) is refused with an <see cref="InvalidOperationException"/> rather than retried, because a scheduler step
/// consumes a model output meant for one position in the schedule: replaying it on a newer state would be wrong,
/// and overwriting the newer state would silently lose the other call's update.
/// </summary>
/// <typeparam name="T">The immutable state (a new instance for every change).</typeparam>
internal sealed class StateSlot<T>(T initial, string owner) where T : class
{
    private T _state = initial ?? throw new ArgumentNullException(nameof(initial));

    /// <summary>The current state.</summary>
    public T Current => Volatile.Read(ref _state);

    /// <summary>Replaces <paramref name="expected"/> (a state read from <see cref="Current"/>) with
    /// <paramref name="next"/>; when another change got there first, runs <paramref name="discard"/> (to free what
    /// <paramref name="next"/> alone owns) and throws <see cref="InvalidOperationException"/> naming
    /// <paramref name="operation"/>.</summary>
    public void Commit(T expected, T next, string operation, Action? discard = null)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (ReferenceEquals(Interlocked.CompareExchange(ref _state, next, expected), expected)) return;
        discard?.Invoke();
        throw new InvalidOperationException(
            $"{owner}.{operation} was refused: another call changed this scheduler instance while it ran (one instance " +
            "used from two threads at once). The other call's update is kept; use one scheduler per thread or serialize " +
            "calls on a shared instance.");
    }

    /// <summary>Computes the next state from the current one and commits it (see <see cref="Commit"/>).</summary>
    public void Update(Func<T, T> change, string operation)
    {
        ArgumentNullException.ThrowIfNull(change);
        var expected = Current;
        Commit(expected, change(expected), operation);
    }
}
