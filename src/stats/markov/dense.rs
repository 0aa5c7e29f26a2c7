//! Dense linear algebra for small systems (the absorbing chain).

/// Solve `A X = B` (A square, B with any number of columns) by Gauss–Jordan
/// elimination with partial pivoting.  `None` if the shapes are inconsistent,
/// an input is non-finite or a pivot is below `1e-13 * max|A|` (singular).
pub(super) fn solve_dense(mut a: Vec<Vec<f64>>, mut b: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    if b.len() != n || a.iter().any(|r| r.len() != n) {
        return None;
    }
    let m = b.first().map_or(0, Vec::len);
    if b.iter().any(|r| r.len() != m) {
        return None;
    }
    let scale = a
        .iter()
        .flatten()
        .chain(b.iter().flatten())
        .try_fold(0.0_f64, |acc, x| x.is_finite().then(|| acc.max(x.abs())))?;
    let tol = 1e-13 * scale.max(f64::MIN_POSITIVE);
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        let pv = a[piv][col].abs();
        if pv.is_nan() || pv <= tol {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let d = a[col][col];
        for x in a[col].iter_mut() {
            *x /= d;
        }
        for x in b[col].iter_mut() {
            *x /= d;
        }
        let arow = a[col].clone();
        let brow = b[col].clone();
        for r in 0..n {
            if r == col {
                continue;
            }
            let f = a[r][col];
            if f == 0.0 {
                continue;
            }
            for (x, y) in a[r].iter_mut().zip(&arow) {
                *x -= f * y;
            }
            for (x, y) in b[r].iter_mut().zip(&brow) {
                *x -= f * y;
            }
        }
    }
    b.iter().flatten().all(|x| x.is_finite()).then_some(b)
}
