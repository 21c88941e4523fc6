"""Shared pieces of the memory benchmarks (envs/memory/grid.py, policies.navigate).

Rendering is checked against a plain per-pixel numpy drawing, the layout against its definition
(wall lines, one doorway per shared wall), and navigation by walking it on generated worlds.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.memory import grid, policies


def reference_render(pattern, fg, bg, tile_size):
    """Draws tiles pixel by pixel with numpy (the definition `render` must match)."""
    masks = grid.sprites(tile_size)
    rows, cols = pattern.shape
    image = np.zeros((rows * tile_size, cols * tile_size, 3), np.uint8)
    for i in range(rows):
        for j in range(cols):
            for y in range(tile_size):
                for x in range(tile_size):
                    on = masks[pattern[i, j], y, x]
                    colour = fg[i, j] if on else bg[i, j]
                    image[i * tile_size + y, j * tile_size + x] = grid.PALETTE[colour]
    return image


@pytest.mark.parametrize("tile_size", grid.TILE_SIZES)
def test_render_matches_pixel_by_pixel_drawing(tile_size):
    rng = np.random.default_rng(tile_size)
    shape = (5, 7)
    pattern = rng.integers(0, len(grid.sprites(4)), shape)
    fg = rng.integers(0, len(grid.PALETTE), shape)
    bg = rng.integers(0, len(grid.PALETTE), shape)
    tiles = grid.Tiles(*(jnp.asarray(a, jnp.int32) for a in (pattern, fg, bg)))
    image = np.asarray(jax.jit(grid.render, static_argnums=1)(tiles, tile_size))
    np.testing.assert_array_equal(image, reference_render(pattern, fg, bg, tile_size))


def test_sprites_are_distinct_at_four_pixels_and_bad_sizes_fail():
    masks = grid.sprites(4).reshape(len(grid.sprites(4)), -1)
    assert len({mask.tobytes() for mask in masks}) == len(masks)
    with pytest.raises(ValueError, match="tile_size"):
        grid.sprites(3)


def test_paint_draws_visible_items_inside_the_view_only():
    tiles = grid.Tiles(*(jnp.zeros((4, 4), jnp.int32),) * 3)
    cells = jnp.array([[0, 1], [3, 3], [-1, 2], [2, 4], [1, 1]])
    visible = jnp.array([True, True, True, True, False])
    painted = grid.paint(tiles, cells, visible, grid.KEY, jnp.arange(5) + 10, 7)
    expected = np.zeros((4, 4), int)
    expected[0, 1], expected[3, 3] = 10, 11
    np.testing.assert_array_equal(painted.fg, expected)
    np.testing.assert_array_equal(painted.pattern, np.where(expected > 0, grid.KEY, 0))
    np.testing.assert_array_equal(painted.bg, np.where(expected > 0, 7, 0))


@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 2), (2, 2), (2, 5)])
def test_layout_walls_have_one_doorway_per_shared_wall(rows, cols):
    layout = grid.Layout(rows, cols, room_size=6)
    period = layout.period
    words = grid.random_words(jax.random.key(rows * cols), 64)[: layout.num_doorways]
    doorways = layout.random_doorways(words)
    walls = np.asarray(layout.walls(doorways))
    height, width = layout.shape
    assert walls.shape == (rows * 7 + 1, cols * 7 + 1)
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    on_line = (ys % period == 0) | (xs % period == 0)
    assert not walls[~on_line].any(), "every floor cell is open"
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    assert (on_line & ~walls).sum() == layout.num_doorways == len(layout.doorway_rooms)
    for (y, x), (first, second) in zip(np.asarray(doorways), layout.doorway_rooms, strict=True):
        assert not walls[y, x]
        sides = [(y, x - 1), (y, x + 1)] if x % period == 0 else [(y - 1, x), (y + 1, x)]
        rooms = sorted(int(layout.room_at(jnp.array(cell))) for cell in sides)
        assert rooms == [first, second]


def test_floor_cells_and_rooms_agree():
    layout = grid.Layout(2, 5, room_size=6)
    for room in range(layout.num_rooms):
        cells = layout.floor_cell(room, jnp.arange(36))
        assert len({tuple(c) for c in np.asarray(cells)}) == 36
        assert jax.vmap(layout.is_floor)(cells).all()
        np.testing.assert_array_equal(jax.vmap(layout.room_at)(cells), room)


def test_random_helpers_stay_in_range_and_respect_masks():
    words = grid.random_words(jax.random.key(0), 4096)
    values = np.asarray(grid.below(words, 7))
    assert values.min() == 0 and values.max() == 6
    assert abs(np.bincount(values).min() / len(values) - 1 / 7) < 0.03
    distinct = np.asarray(grid.distinct_below(words[:1000].reshape(100, 10), 36))
    assert distinct.shape == (100, 10) and distinct.min() >= 0 and distinct.max() < 36
    assert all(len(set(row)) == 10 for row in distinct)
    counts = np.bincount(distinct.reshape(-1), minlength=36)  # each value about 1000 / 36 times
    assert counts.min() > 10 and counts.max() < 50
    mask = jnp.arange(8) % 3 == 1
    picks = jax.vmap(grid.uniform_among, (0, None))(words[:800].reshape(100, 8), mask)
    assert set(np.asarray(picks).tolist()) == {1, 4, 7}
    assert 0.2 < float(jnp.mean(grid.coin(words, 0.25))) < 0.3


def _walk(walls, position, action):
    """A move on a numpy wall map (the rooms' rule)."""
    y, x = position + grid.MOVES[action]
    y, x = np.clip(y, 0, walls.shape[0] - 1), np.clip(x, 0, walls.shape[1] - 1)
    return position if walls[y, x] else np.array([y, x])


@functools.cache
def _navigate(layout):
    return jax.jit(functools.partial(policies.navigate, layout))


@pytest.mark.parametrize("rows, cols", [(1, 2), (2, 2), (2, 5)])
def test_navigation_reaches_every_target_through_doorways(rows, cols):
    layout = grid.Layout(rows, cols, room_size=6)
    rng = np.random.default_rng(cols)
    budget = 2 * (layout.shape[0] + layout.shape[1])  # one pass along each axis, with slack
    for trial in range(6):
        words = grid.random_words(jax.random.key(trial), layout.num_doorways)
        doorways = layout.random_doorways(words)
        walls = np.asarray(layout.walls(doorways))
        start_room, goal_room = rng.integers(0, layout.num_rooms, 2)
        position = np.asarray(layout.floor_cell(start_room, rng.integers(0, 36)))
        target = np.asarray(layout.floor_cell(goal_room, rng.integers(0, 36)))
        for _ in range(budget):
            if (position == target).all():
                break
            action = int(_navigate(layout)(doorways, jnp.asarray(position), jnp.asarray(target)))
            moved = _walk(walls, position, action)
            assert not (moved == position).all(), f"navigation walked into a wall at {position}"
            position = moved
        np.testing.assert_array_equal(position, target)
