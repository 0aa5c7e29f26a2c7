//! A slab: records in a vector with a free list, so that slots are reused
//! and the steady state allocates nothing.

pub struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    #[inline(always)]
    pub fn insert(&mut self, v: T) -> u32 {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                debug_assert!(self.items[i as usize].is_none());
                self.items[i as usize] = Some(v);
                i
            }
            None => {
                self.items.push(Some(v));
                (self.items.len() - 1) as u32
            }
        }
    }

    #[inline(always)]
    pub fn remove(&mut self, i: u32) -> T {
        let v = self.items[i as usize]
            .take()
            .expect("removing a free slab slot");
        self.free.push(i);
        self.len -= 1;
        v
    }

    #[inline(always)]
    pub fn get(&self, i: u32) -> Option<&T> {
        self.items.get(i as usize).and_then(|x| x.as_ref())
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.as_ref().map(|v| (i as u32, v)))
    }
}

impl<T> std::ops::Index<u32> for Slab<T> {
    type Output = T;
    #[inline(always)]
    fn index(&self, i: u32) -> &T {
        self.items[i as usize]
            .as_ref()
            .expect("indexing a free slab slot")
    }
}

impl<T> std::ops::IndexMut<u32> for Slab<T> {
    #[inline(always)]
    fn index_mut(&mut self, i: u32) -> &mut T {
        self.items[i as usize]
            .as_mut()
            .expect("indexing a free slab slot")
    }
}
